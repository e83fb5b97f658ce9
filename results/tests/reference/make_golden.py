#!/usr/bin/env python3
"""Fixtures and golden results for variantd-results, from an independent
reference implementation.

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install scipy statsmodels gbstats
    /tmp/refenv/bin/python results/tests/reference/make_golden.py

1. Generates a few fixed data sets (seeded, deterministic) as the JSONL files
   variantd writes, under results/tests/data/<dataset>/.
2. Computes, with plain Python for the bookkeeping and SciPy / statsmodels /
   GrowthBook's gbstats for every statistic, what the Rust engine must
   report, and writes it to results/tests/golden/<dataset>.json together with
   the package versions used.

The Rust tests (results/tests/golden.rs) read both and compare; they never
run Python. This file shares no code with the engine: reading, first
exposures, attribution and SRM designs are written again here, as simply as
possible (everything in memory).
"""

import glob
import json
import math
import os
import platform
import random
import sys
from importlib.metadata import version

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from gbstats.frequentist.tests import (
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
DATA = os.path.join(TESTS, "data")
GOLDEN = os.path.join(TESTS, "golden")
SPECS_PATH = os.path.join(DATA, "statsig_specs.json")

T0 = 1767225600000  # 2026-01-01T00:00:00Z, ms
ALPHA = 0.05

# ---------------------------------------------------------------- fixtures


def gate_line(user, t, value, rule, full=False, gate="variant_b", reason="Bootstrap:Recognized"):
    # Compact by default (the fixtures stay small); `full` for the whole shape.
    metadata = {"gate": gate, "gateValue": "true" if value else "false", "ruleID": rule}
    if full or reason != "Bootstrap:Recognized":
        metadata["reason"] = reason
    line = {
        "eventName": "statsig::gate_exposure",
        "metadata": metadata,
        "user": {"userID": user},
        "time": t,
    }
    if full:
        # The whole shape statsig-rust writes, with the fields the engine skips.
        line = {
            "eventName": "statsig::gate_exposure",
            "value": None,
            "metadata": dict(line["metadata"], lcut=str(T0), receivedAt=str(T0 + 5), configVersion="1"),
            "statsigMetadata": {"samplingMode": None, "samplingRate": None, "shadowLogged": None},
            "user": {"userID": user, "custom": {"plan": "free"}, "statsigEnvironment": {"tier": "production"}},
            "time": t,
            "secondaryExposures": [{"gate": "segment:x", "gateValue": "false", "ruleID": "default"}],
        }
    return line


def config_line(user, t, config, rule, rule_passed=None):
    metadata = {"config": config, "ruleID": rule}
    if rule_passed is not None:
        metadata["rulePassed"] = "true" if rule_passed else "false"
    return {"eventName": "statsig::config_exposure", "metadata": metadata, "user": {"userID": user}, "time": t}


def event_line(user, t, name, value=None, has_value=True):
    line = {"eventName": name}
    if has_value:
        line["value"] = value
    line.update({"metadata": {}, "user": {"userID": user}, "time": t})
    return line


def dumps(line):
    return json.dumps(line, separators=(",", ":"))


def write_lines(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        for line in lines:
            if isinstance(line, bytes):
                f.write(line)
            elif isinstance(line, str):
                f.write(line.encode())
            else:
                f.write(dumps(line).encode() + b"\n")


def money(rng):
    return round(rng.lognormvariate(3.0, 0.6), 2)


def gate_assignment(rng, i, user, pass_probability):
    """(rule, value) as the shipped gate would assign."""
    if user in ("qa-alice", "qa-bob", "qa-carol"):
        return "qa_allowlist", True
    if i % 25 == 0:
        return "plan_enterprise", True
    return "rollout50", rng.random() < pass_probability


def make_balanced_gate():
    rng = random.Random(20)
    lines = []
    users = ["qa-alice", "qa-bob", "qa-carol"] + [f"u{i:04d}" for i in range(300)]
    for i, user in enumerate(users):
        rule, value = gate_assignment(rng, i, user, 0.5)
        first = T0 + i * 1000 + rng.randrange(500)
        for k in range(rng.randrange(1, 3)):
            lines.append((first + k * 60_000, gate_line(user, first + k * 60_000, value, rule, full=(i % 50 == 0))))
        purchase = 0.14 if value else 0.10
        if rng.random() < purchase:
            for k in range(rng.choice([1, 1, 2])):
                t = first + rng.randrange(1, 3_600_000)
                lines.append((t, event_line(user, t, "purchase", money(rng))))
        if rng.random() < 0.3:
            t = first + rng.randrange(1, 3_600_000)
            lines.append((t, event_line(user, t, "click", has_value=False)))
    lines.sort(key=lambda x: x[0])
    write_lines(os.path.join(DATA, "balanced_gate", "exposures.jsonl"), [l for _, l in lines])


def bucket_rule(rng, shares):
    x = rng.random()
    for rule, share in shares:
        if x < share:
            return rule
        x -= share
    return shares[-1][0]


def make_experiment():
    rng = random.Random(3)
    replicas = {1: [], 2: []}
    shares = [("group_a", 0.334), ("group_b", 0.333), ("group_c", 0.333)]
    purchase = {"group_a": 0.10, "group_b": 0.14, "group_c": 0.08, "default": 0.1}
    signup = {"group_a": 0.20, "group_b": 0.20, "group_c": 0.26, "default": 0.2}
    for i in range(300):
        user = f"e{i:04d}"
        replica = replicas[1 + i % 2]
        rule = "default" if i % 60 == 7 else bucket_rule(rng, shares)
        first = T0 + i * 700 + rng.randrange(300)
        for k in range(rng.randrange(1, 3)):
            replica.append((first + k * 1000, config_line(user, first + k * 1000, "variant_experiment", rule)))
        beta = i % 10 == 0
        replica.append((first + 5, config_line(user, first + 5, "variant_config", "plan_beta" if beta else "default", beta)))
        if rng.random() < purchase[rule]:
            t = first + rng.randrange(10, 600_000)
            replica.append((t, event_line(user, t, "purchase", money(rng))))
        if rng.random() < signup[rule]:
            t = first + rng.randrange(10, 600_000)
            replica.append((t, event_line(user, t, "signup", None)))
    for n, lines in replicas.items():
        lines.sort(key=lambda x: x[0])
        write_lines(os.path.join(DATA, "experiment_3groups", f"replica{n}", "exposures.jsonl"), [l for _, l in lines])


def make_srm():
    rng = random.Random(7)
    lines = []
    for i in range(300):
        user = f"s{i:04d}"
        rule, value = gate_assignment(rng, i + 1, user, 0.62)  # i+1: avoid i % 25 == 0 at 0 only
        t = T0 + i * 900
        lines.append((t, gate_line(user, t, value, rule)))
        exp_rule = bucket_rule(rng, [("group_a", 0.45), ("group_b", 0.30), ("group_c", 0.25)])
        lines.append((t + 1, config_line(user, t + 1, "variant_experiment", exp_rule)))
        if rng.random() < (0.2 if value else 0.15):
            lines.append((t + 100, event_line(user, t + 100, "purchase", money(rng))))
    lines.sort(key=lambda x: x[0])
    write_lines(os.path.join(DATA, "srm", "exposures.jsonl"), [l for _, l in lines])


def make_timing_rotation():
    """Rotated files read newest first (exposures.jsonl, .1, .2) while the
    first exposure by time is in the oldest; events before exposure, events
    written before the exposure lines, unexposed users, group switches,
    malformed and ignored lines, values of every type."""
    rng = random.Random(11)
    files = {"exposures.jsonl.2": [], "exposures.jsonl.1": [], "exposures.jsonl": [], "events.jsonl": []}
    hour = 3_600_000
    for i in range(100):
        user = f"t{i:03d}"
        rule, value = gate_assignment(rng, i + 1, user, 0.5)
        first = T0 + i * 1000
        # Oldest file: the first exposure. Newer files: repeats.
        files["exposures.jsonl.2"].append(gate_line(user, first, value, rule, full=(i % 7 == 0)))
        switched = i % 15 == 4
        files["exposures.jsonl.1"].append(gate_line(user, first + hour, (not value) if switched else value, rule))
        files["exposures.jsonl"].append(gate_line(user, first + 2 * hour, value, rule))
        exp_rule = bucket_rule(rng, [("group_a", 0.334), ("group_b", 0.333), ("group_c", 0.333)])
        files["exposures.jsonl.1"].append(config_line(user, first + hour + 10, "variant_experiment", exp_rule))
        if i % 11 == 3:  # a later exposure in another group
            other = {"group_a": "group_b", "group_b": "group_c", "group_c": "group_a"}[exp_rule]
            files["exposures.jsonl"].append(config_line(user, first + 2 * hour + 10, "variant_experiment", other))
        # Events, most in the newest file, so read before the exposures.
        r = rng.random()
        target = files["exposures.jsonl"] if i % 3 else files["events.jsonl"]
        if r < 0.35:
            target.append(event_line(user, first + rng.randrange(0, 2 * hour), "purchase", money(rng)))
        elif r < 0.45:
            target.append(event_line(user, first + 30, "purchase", rng.choice(["4.50", " 3 ", "home", None, True, {"x": 1}])))
        elif r < 0.55:
            # Before the first exposure: never counts, for the gate; the
            # experiment's first exposure is an hour later still.
            target.append(event_line(user, first - 1, "purchase", money(rng)))
        elif r < 0.6:
            target.append(event_line(user, first + hour, "purchase", has_value=False))
        if rng.random() < 0.4:
            target.append(event_line(user, first + rng.randrange(0, 3 * hour), "add_to_cart", 1))
    # Exactly at the first exposure: counts.
    files["events.jsonl"].append(event_line("t000", T0, "refund", 2))
    # Users never exposed.
    for j in range(20):
        files["events.jsonl"].append(event_line(f"nobody{j}", T0 + j, "purchase", 10))
    # A gate the specs do not know: no SRM, groups fail/pass.
    for j in range(6):
        files["exposures.jsonl.1"].append(
            gate_line(f"t{j:03d}", T0 + 500 + j, j % 2 == 0, "", gate="legacy_gate", reason="Bootstrap:Unrecognized")
        )
    # gateValue as a JSON bool, and a user with only custom ids.
    files["exposures.jsonl.1"].append(
        {"eventName": "statsig::gate_exposure", "metadata": {"gate": "variant_b", "gateValue": True, "ruleID": "qa_allowlist"},
         "user": {"userID": "qa-bob"}, "time": T0 + 7}
    )
    files["exposures.jsonl.1"].append(
        {"eventName": "statsig::gate_exposure", "metadata": {"gate": "variant_b", "gateValue": "false", "ruleID": "rollout50"},
         "user": {"customIDs": {"companyID": "c1"}}, "time": T0 + 8}
    )
    # Ignored lines.
    files["exposures.jsonl"].append(
        {"eventName": "statsig::layer_exposure", "metadata": {"config": "some_layer", "ruleID": "x"}, "user": {"userID": "t001"}, "time": T0}
    )
    files["exposures.jsonl"].append({"eventName": "statsig::diagnostics", "metadata": {}, "user": {}, "time": T0})
    # Malformed lines, and an empty one (skipped, not counted).
    files["exposures.jsonl"].append("this is not json\n")
    files["exposures.jsonl"].append("\n")
    files["exposures.jsonl"].append(b"\xff\xfe not utf-8\n")
    files["exposures.jsonl"].append(dumps({"eventName": "purchase", "user": {"userID": "t001"}}) + "\n")  # no time
    files["exposures.jsonl"].append(
        dumps({"eventName": "statsig::gate_exposure", "metadata": {"gate": "variant_b", "ruleID": "rollout50"}, "user": {"userID": "t001"}, "time": T0}) + "\n"
    )
    files["events.jsonl"].append(dumps(event_line("t002", T0 + 99, "purchase", 5)) + "\r\n")  # CRLF: fine
    # A truncated last line (a replica killed mid-write).
    files["exposures.jsonl.1"].append(dumps(gate_line("t003", T0 + 3, True, "rollout50"))[:60])
    for name, lines in files.items():
        write_lines(os.path.join(DATA, "timing_rotation", name), lines)


# ------------------------------------------------------------ reference


def load_designs():
    specs = json.load(open(SPECS_PATH))
    designs = {}
    for name, spec in specs["feature_gates"].items():
        designs[name] = {
            "kind": "gate",
            "groups": ["fail", "pass"],
            "rules": spec["rules"],
            "id_type": spec.get("idType", "userID"),
        }
    for name, spec in specs["dynamic_configs"].items():
        kind = spec.get("entity", "dynamic_config")
        if kind == "experiment":
            groups = []
            for rule in spec["rules"]:
                if rule.get("groupName") and rule["groupName"] not in groups:
                    groups.append(rule["groupName"])
        else:
            groups = ["default"] + [r.get("groupName") or r["id"] for r in spec["rules"]]
        designs[name] = {"kind": kind, "groups": groups, "rules": spec["rules"], "id_type": spec.get("idType", "userID")}
    # Bucket shares for rules made only of `user_bucket … lt N` conditions:
    # the buckets between the previous such rule's bound and this one's.
    conditions = specs["condition_map"]
    for design in designs.values():
        previous = 0
        for rule in design["rules"]:
            conds = [conditions[c] for c in rule["conditions"]]
            if conds and all(c["type"] == "user_bucket" and c["operator"] == "lt" for c in conds):
                bound = min(c["targetValue"] for c in conds)
                rule["_buckets"] = max(0, bound - previous)
                previous = max(previous, bound)
    return designs


def read_lines(patterns):
    """Files in pattern order (each glob sorted), each file once."""
    files, seen = [], set()
    for pattern in patterns:
        matched = sorted(p for p in glob.glob(os.path.join(TESTS, pattern)) if os.path.isfile(p))
        for path in matched:
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                files.append(path)
    for path in files:
        for raw in open(path, "rb").read().split(b"\n"):
            raw = raw.rstrip(b"\r")
            if raw:
                yield raw


def as_bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return None


def as_number(v):
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            x = float(v.strip())
        except ValueError:
            return None
        return x if math.isfinite(x) else None
    return None


def as_time(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int) and v >= 0:
        return v
    return None


def unit_of(user, id_type):
    if id_type.lower() == "userid":
        u = user.get("userID")
    else:
        u = next((v for k, v in (user.get("customIDs") or {}).items() if k.lower() == id_type.lower()), None)
    return u if isinstance(u, str) and u else None


def parse(raw):
    """('exposure', …) | ('event', …) | ('ignored',) | ('malformed',)"""
    try:
        line = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ("malformed",)
    if not isinstance(line, dict) or not isinstance(line.get("eventName"), str):
        return ("malformed",)
    name = line["eventName"]
    if name.startswith("statsig::") and name not in ("statsig::gate_exposure", "statsig::config_exposure"):
        return ("ignored",)
    t = as_time(line.get("time"))
    if t is None:
        return ("malformed",)
    user = line.get("user") or {}
    if name.startswith("statsig::"):
        md = line.get("metadata")
        if not isinstance(md, dict):
            return ("malformed",)
        if name == "statsig::gate_exposure":
            decision, passed = md.get("gate"), as_bool(md.get("gateValue"))
            if passed is None:
                return ("malformed",)
            kind = "gate"
        else:
            decision, passed = md.get("config"), as_bool(md.get("rulePassed"))
            kind = "config"
        if not isinstance(decision, str) or not decision:
            return ("malformed",)
        rule = md.get("ruleID") if isinstance(md.get("ruleID"), str) else ""
        return ("exposure", kind, decision, user, t, rule, passed)
    return ("event", name, user, t, as_number(line.get("value")))


def group_of(designs, kind, decision, rule, passed):
    if kind == "gate":
        return "pass" if passed else "fail"
    if passed is False or rule == "":
        return "default"
    design = designs.get(decision)
    if design:
        for r in design["rules"]:
            if r["id"] == rule and r.get("groupName"):
                return r["groupName"]
    return rule


def opt(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def opt_ci(ci):
    if ci is None or any(not math.isfinite(float(v)) for v in ci):
        return None
    return [float(ci[0]), float(ci[1])]


def gb(test_class, control, treatment, **config):
    result = test_class(control, treatment, **config).compute_result()
    return None if result.error_message else opt_ci(result.ci)


def compute(patterns, controls, variants):
    designs = load_designs()
    counts = dict(lines=0, malformed_lines=0, exposures=0, events=0, ignored_lines=0, exposures_without_unit=0)
    decisions = {}  # name -> state
    events = []
    for raw in read_lines(patterns):
        counts["lines"] += 1
        parsed = parse(raw)
        if parsed[0] == "malformed":
            counts["malformed_lines"] += 1
        elif parsed[0] == "ignored":
            counts["ignored_lines"] += 1
        elif parsed[0] == "event":
            counts["events"] += 1
            events.append(parsed[1:])
        else:
            counts["exposures"] += 1
            _, kind, name, user, t, rule, passed = parsed
            d = decisions.setdefault(name, {"kind": kind, "first": {}, "groups": {}})
            id_type = designs[name]["id_type"] if name in designs else "userID"
            unit = unit_of(user, id_type)
            if unit is None:
                counts["exposures_without_unit"] += 1
                continue
            group = group_of(designs, kind, name, rule, passed)
            d["groups"].setdefault(unit, set()).add(group)
            if unit not in d["first"] or t < d["first"][unit][0]:
                d["first"][unit] = (t, group, rule, passed)

    results = []
    for name in sorted(decisions):
        d = decisions[name]
        design = designs.get(name)
        kind = design["kind"] if design else ("gate" if d["kind"] == "gate" else "dynamic_config")
        order = list(design["groups"]) if design else (["fail", "pass"] if kind == "gate" else [])
        seen = sorted({g for (_, g, _, _) in d["first"].values()} - set(order))
        order += seen
        control = controls.get(name) or ("fail" if kind == "gate" else (order[0] if order else None))
        if control is not None and control not in order:
            order.append(control)
        units = {g: 0 for g in order}
        for (_, g, _, _) in d["first"].values():
            units[g] += 1

        # Attribution: an event counts for a unit exposed at or before it.
        before = unexposed = 0
        per_unit = {}  # event -> unit -> sum of values
        id_type = design["id_type"] if design else "userID"
        for (ev, user, t, value) in events:
            unit = unit_of(user, id_type)
            if unit is None:
                continue
            if unit not in d["first"]:
                unexposed += 1
            elif t < d["first"][unit][0]:
                before += 1
            else:
                sums = per_unit.setdefault(ev, {})
                sums[unit] = sums.get(unit, 0.0) + (value or 0.0)

        metrics = []
        for ev in sorted(per_unit):
            values = {g: [] for g in order}
            conv = {g: 0 for g in order}
            for unit, (_, g, _, _) in d["first"].items():
                if unit in per_unit[ev]:
                    conv[g] += 1
                    values[g].append(per_unit[ev][unit])
                else:
                    values[g].append(0.0)
            for g in order:
                n, c = units[g], conv[g]
                x = np.array(values[g], dtype=float)
                row = dict(event=ev, group=g, units=n, converted=c)
                row["rate"] = c / n if n else None
                row["rate_ci"] = opt_ci(proportion_confint(c, n, alpha=ALPHA, method="wilson")) if n else None
                row["value_mean"] = float(x.mean()) if n else None
                if n >= 2:
                    sem = float(x.std(ddof=1)) / math.sqrt(n)
                    row["value_ci"] = [row["value_mean"]] * 2 if sem == 0 else opt_ci(
                        stats.t.interval(1 - ALPHA, n - 1, loc=row["value_mean"], scale=sem)
                    )
                else:
                    row["value_ci"] = None
                row.update(lift=None, lift_ci=None, p_value=None, sequential_ci=None,
                           value_lift=None, value_lift_ci=None, value_p_value=None, value_sequential_ci=None)
                if g != control and control in units:
                    nc, cc = units[control], conv[control]
                    xc = np.array(values[control], dtype=float)
                    rt, rc = (c / n if n else None), (cc / nc if nc else None)
                    if rt is not None and rc:
                        row["lift"] = (rt - rc) / rc
                    if n >= 2 and nc >= 2:
                        pa, pb = ProportionStatistic(n=nc, sum=cc), ProportionStatistic(n=n, sum=c)
                        row["lift_ci"] = gb(TwoSidedTTest, pa, pb)
                        row["sequential_ci"] = gb(SequentialTwoSidedTTest, pa, pb, config=SequentialConfig(sequential_tuning_parameter=5000))
                        ma = SampleMeanStatistic(n=nc, sum=float(xc.sum()), sum_squares=float((xc ** 2).sum()))
                        mb = SampleMeanStatistic(n=n, sum=float(x.sum()), sum_squares=float((x ** 2).sum()))
                        row["value_lift_ci"] = gb(TwoSidedTTest, ma, mb)
                        row["value_sequential_ci"] = gb(SequentialTwoSidedTTest, ma, mb, config=SequentialConfig(sequential_tuning_parameter=5000))
                        if x.std() > 0 or xc.std() > 0:
                            row["value_p_value"] = opt(stats.ttest_ind(x, xc, equal_var=False).pvalue)
                    if n and nc:
                        pooled = (c + cc) / (n + nc)
                        if 0 < pooled < 1:
                            row["p_value"] = opt(proportions_ztest([c, cc], [n, nc])[1])
                    if n and nc and xc.mean() != 0:
                        row["value_lift"] = (x.mean() - xc.mean()) / xc.mean()
                        row["value_lift"] = float(row["value_lift"])
                metrics.append(row)

        results.append(dict(
            name=name,
            kind=kind,
            control=control,
            id_type=id_type,
            groups=[dict(group=g, variants=variants.get(name, {}).get(g, []), units=units[g]) for g in order],
            multiple_exposures=sum(1 for gs in d["groups"].values() if len(gs) > 1),
            events_before_exposure=before,
            events_from_unexposed=unexposed,
            srm=srm(design, d) if design else dict(chi2=None, p_value=None, mismatch=False, dof=0, units=0),
            metrics=metrics,
        ))
    return counts, results


def srm(design, d):
    tests = []
    bucket_rules = [r for r in design["rules"] if r.get("_buckets")]
    if len(bucket_rules) >= 2:
        observed = [sum(1 for (_, _, rule, _) in d["first"].values() if rule == r["id"]) for r in bucket_rules]
        shares = np.array([r["_buckets"] for r in bucket_rules], dtype=float)
        if sum(observed):
            tests.append((observed, shares / shares.sum() * sum(observed)))
    for r in design["rules"]:
        p = r.get("passPercentage", 100)
        if 0 < p < 100:
            firsts = [v for v in d["first"].values() if v[2] == r["id"] and v[3] is not None]
            observed = [sum(1 for v in firsts if v[3]), sum(1 for v in firsts if not v[3])]
            if sum(observed):
                tests.append((observed, np.array([p, 100 - p]) / 100 * sum(observed)))
    if not tests:
        return dict(chi2=None, p_value=None, mismatch=False, dof=0, units=0)
    chi2 = dof = 0
    for observed, expected in tests:
        chi2 += float(stats.chisquare(observed, f_exp=expected).statistic)
        dof += len(observed) - 1
    p = float(stats.chi2.sf(chi2, dof))
    return dict(chi2=chi2, p_value=p, mismatch=p < 0.001, dof=dof, units=int(sum(sum(o) for o, _ in tests)))


DATASETS = {
    "balanced_gate": dict(
        make=make_balanced_gate,
        patterns=["data/balanced_gate/exposures.jsonl*"],
        controls={},
        variants={"variant_b": {"pass": ["app_b"], "fail": ["app_a"]}},
    ),
    "experiment_3groups": dict(
        make=make_experiment,
        patterns=["data/experiment_3groups/replica*/exposures.jsonl*"],
        controls={"variant_experiment": "A"},
        variants={"variant_experiment": {"A": ["app_a"], "B": ["app_b"], "C": ["app_c"]}},
    ),
    "srm": dict(make=make_srm, patterns=["data/srm/exposures.jsonl"], controls={}, variants={}),
    "timing_rotation": dict(
        make=make_timing_rotation,
        patterns=["data/timing_rotation/exposures.jsonl*", "data/timing_rotation/*.jsonl"],
        controls={},
        variants={},
    ),
}


def main():
    os.makedirs(GOLDEN, exist_ok=True)
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "gbstats": version("gbstats"),
    }
    for name, ds in DATASETS.items():
        ds["make"]()
        counts, decisions = compute(ds["patterns"], ds["controls"], ds["variants"])
        golden = dict(
            dataset=name,
            generated_by="results/tests/reference/make_golden.py",
            versions=versions,
            patterns=ds["patterns"],
            controls=ds["controls"],
            variants=ds["variants"],
            input_counts=counts,
            decisions=decisions,
        )
        with open(os.path.join(GOLDEN, f"{name}.json"), "w") as f:
            json.dump(golden, f, indent=1, allow_nan=False)
            f.write("\n")
        print(name, counts, file=sys.stderr)


if __name__ == "__main__":
    main()
