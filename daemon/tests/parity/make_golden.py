#!/usr/bin/env python3
"""Evaluates every gate, experiment and dynamic config of specs.json for a
fixed list of users with statsig-python-core (offline: the specs are served
from a one-file http.server on 127.0.0.1, event logging is off), and writes
golden.json for tests/statsig_parity.rs.

Installs nothing: `pip install statsig-python-core==0.24.0` first (see
README.md). Deterministic: the users come from a seeded generator, and the
specs contain no rule whose outcome moves with the clock before 2100.
"""
import http.server
import json
import os
import random
import threading
from importlib.metadata import version

from statsig_python_core import (
    DynamicConfigEvaluationOptions,
    ExperimentEvaluationOptions,
    FeatureGateEvaluationOptions,
    Statsig,
    StatsigOptions,
    StatsigUser,
)

HERE = os.path.dirname(os.path.abspath(__file__))
SPECS_PATH = os.path.join(HERE, "specs.json")
PARAMETER = "variant"
# The daemon passes the client address as `ip` (`[user] client_ip = true`);
# the test's requests come from loopback.
CLIENT_IP = "127.0.0.1"

USER_AGENTS = [
    # Chrome (Windows, macOS, Linux), old and new
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/115.0.5790.170 Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.88 Safari/537.36",
    # Firefox
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:109.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:78.0) Gecko/20100101 Firefox/78.0",
    # Safari
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.2 Safari/605.1.15",
    # Edge
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    # iOS
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.7 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
    # Android
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; SM-G991B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.88 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Android 13; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
    "Mozilla/5.0 (Linux; Android 9; SM-J730F) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/12.1 Chrome/79.0.3945.136 Mobile Safari/537.36",
    # non-browsers
    "curl/8.5.0",
    "python-requests/2.31.0",
]
COUNTRIES = ["US", "CA", "DE", "FR", "GB", "ES", "NZ", "JP", "BR", "IN"]
LOCALES = ["en-US", "en-GB", "fr-FR", "fr-CA", "de-DE", "es-ES", "ja-JP", "pt-BR"]
APP_VERSIONS = ["1.0.0", "1.4.9", "1.5", "1.5.2", "1.9.9", "2.0.0", "2.3.0", "2.3.1", "2.10.0", "3.0.0", "3.0", "10.0.1"]
PLANS = ["free", "free", "pro", "enterprise", "beta", "trial"]
COMPANIES = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"] + [f"co-{i:03d}" for i in range(40)]
EMAIL_DOMAINS = ["gmail.com", "corp.example", "beta.example", "statsig.com", "mail.example", "yahoo.com"]


def make_users(n=500):
    rnd = random.Random(22)
    users = []
    for i in range(n):
        u = {}
        anonymous = i % 10 == 9  # one in ten: only a stableID (and a user agent)
        if not anonymous:
            u["user_key"] = f"user-{i:04d}"
        if i == 1:
            u["user_key"] = "qa-alice"
        if rnd.random() < 0.92:
            u["user_agent"] = rnd.choice(USER_AGENTS)
        if rnd.random() < 0.9:
            u["stable_id"] = f"stable-{i:04d}"
        if not anonymous:
            if rnd.random() < 0.7:
                local = rnd.choice(["qa-", "qa+", "", "ann", "dev."]) + f"p{i}"
                u["email"] = f"{local}@{rnd.choice(EMAIL_DOMAINS)}"
            if i in (5, 6):
                u["email"] = ["ann@corp.example", "bob@corp.example"][i - 5]
            if rnd.random() < 0.8:
                u["country"] = rnd.choice(COUNTRIES)
            if rnd.random() < 0.8:
                u["locale"] = rnd.choice(LOCALES)
            if rnd.random() < 0.75:
                u["app_version"] = rnd.choice(APP_VERSIONS)
            if rnd.random() < 0.8:
                u["plan"] = rnd.choice(PLANS)
            if rnd.random() < 0.5:
                u["seats"] = str(rnd.choice([1, 5, 25, 26, 100, 1000]))
            if rnd.random() < 0.6:
                u["company_id"] = rnd.choice(COMPANIES)
        users.append(u)
    return users


def statsig_user(u):
    custom_ids = {}
    if "stable_id" in u:
        custom_ids["stableID"] = u["stable_id"]
    if "company_id" in u:
        custom_ids["companyID"] = u["company_id"]
    custom = {k: u[k] for k in ("plan", "seats") if k in u}
    return StatsigUser(
        user_id=u.get("user_key"),
        email=u.get("email"),
        ip=CLIENT_IP,
        country=u.get("country"),
        locale=u.get("locale"),
        app_version=u.get("app_version"),
        user_agent=u.get("user_agent"),
        custom=custom or None,
        custom_ids=custom_ids or None,
    )


def value_to_string(v):
    # As the daemon does: strings as they are, anything else as JSON.
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return json.dumps(v)


def serve(path):
    body = open(path, "rb").read()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            # Nothing should be logged (disable_all_logging); answer as Statsig would.
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ok = b'{"success":true}'
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(ok)))
            self.end_headers()
            self.wfile.write(ok)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    specs = json.load(open(SPECS_PATH))
    server = serve(SPECS_PATH)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    options = StatsigOptions(
        specs_url=f"{base}/v2/download_config_specs",
        log_event_url=f"{base}/v1/log_event",
        disable_all_logging=True,
        specs_sync_interval_ms=3_600_000,
        init_timeout_ms=5000,
        enable_id_lists=False,
        # Both load in the background; without waiting, the first decisions
        # on an ip_based / ua_based condition race them (reason
        # `CountryLookupNotLoaded`).
        wait_for_country_lookup_init=True,
        wait_for_user_agent_init=True,
        output_log_level="error",
    )
    statsig = Statsig("secret-parity-offline", options)
    details = statsig.initialize_with_details().result()
    assert details.init_success and statsig.is_initialized(), details

    gates = sorted(n for n, s in specs["feature_gates"].items() if s.get("entity") == "feature_gate")
    experiments = sorted(n for n, s in specs["dynamic_configs"].items() if s.get("entity") == "experiment")
    configs = sorted(n for n, s in specs["dynamic_configs"].items() if s.get("entity") == "dynamic_config")
    no_gate_exposure = FeatureGateEvaluationOptions(disable_exposure_logging=True)
    no_exp_exposure = ExperimentEvaluationOptions(disable_exposure_logging=True)
    no_cfg_exposure = DynamicConfigEvaluationOptions(disable_exposure_logging=True)

    users = make_users()
    out_users = []
    reasons = set()
    for u in users:
        su = statsig_user(u)
        row = {"user": u, "gates": [], "experiments": [], "dynamic_configs": []}
        for name in gates:
            r = statsig.get_feature_gate(su, name, no_gate_exposure)
            reasons.add(r.details.reason)
            row["gates"].append([r.value, r.rule_id])
        for name in experiments:
            r = statsig.get_experiment(su, name, no_exp_exposure)
            reasons.add(r.details.reason)
            row["experiments"].append([r.group_name, r.rule_id, value_to_string(r.value.get(PARAMETER))])
        for name in configs:
            r = statsig.get_dynamic_config(su, name, no_cfg_exposure)
            reasons.add(r.details.reason)
            row["dynamic_configs"].append([r.rule_id, value_to_string(r.value.get(PARAMETER))])
        out_users.append(row)
    statsig.shutdown().wait()
    server.shutdown()

    assert reasons == {"Network:Recognized"}, f"not every decision came from the specs: {reasons}"
    golden = {
        "package": "statsig-python-core",
        "version": version("statsig-python-core"),
        "specs_time": specs["time"],
        "client_ip": CLIENT_IP,
        "parameter": PARAMETER,
        "gates": gates,
        "experiments": experiments,
        "dynamic_configs": configs,
        "format": "users[i].gates[j] = [value, rule_id] of gates[j]; .experiments[j] = [group, rule_id, "
                  "parameter value] of experiments[j]; .dynamic_configs[j] = [rule_id, parameter value]",
        "users": out_users,
    }
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        # One user a line: diffs of a regenerated file stay readable.
        head = {k: v for k, v in golden.items() if k != "users"}
        text = json.dumps(head, sort_keys=True)[:-1] + ',"users":[\n'
        text += ",\n".join(json.dumps(row, sort_keys=True, separators=(",", ":")) for row in out_users)
        f.write(text + "\n]}\n")
    n = len(out_users) * (len(gates) + len(experiments) + len(configs))
    print(f"golden.json: statsig-python-core {golden['version']}, {len(out_users)} users, {n} decisions")


if __name__ == "__main__":
    main()
