//! Issue 22, item 2: on a many-rule specs file (`tests/parity/specs.json`:
//! user-agent, top-level-field, custom-field, custom-unit-id, segment,
//! nested, time and rollout gates; experiments in layers with holdouts,
//! targeting and values no route maps), every decision variantd makes for a
//! user built from the request equals statsig-python-core's for the same
//! user (`tests/parity/golden.json`, written by `make_golden.py`), and no
//! Statsig outcome answers a 5xx. See `tests/parity/README.md`.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;
use support::*;

fn parity_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity")
}

fn read_json(name: &str) -> Value {
    let text = std::fs::read_to_string(parity_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Request headers the config maps, and the golden user's field for each.
const ATTRIBUTES: &[(&str, &str, &str)] = &[
    // (header, Statsig field, golden user key)
    ("X-Email", "email", "email"),
    ("X-Country", "country", "country"),
    ("X-Locale", "locale", "locale"),
    ("X-App-Version", "appVersion", "app_version"),
    ("X-Plan", "plan", "plan"),
    ("X-Seats", "seats", "seats"),
];
const IDS: &[(&str, &str, &str)] = &[
    ("X-Stable-Id", "stableID", "stable_id"),
    ("X-Company-Id", "companyID", "company_id"),
];

/// The variant a route sends an experiment / config value to.
struct Route {
    path: String,
    name: String,
    kind: &'static str,
    /// Where its golden decisions are: `users[i][list][index]`.
    list: &'static str,
    index: usize,
    /// The unit its decision is made on (the spec's `idType`).
    unit: String,
    /// Gate routes: pass, fail. Others: value -> variant, and the default.
    map: BTreeMap<String, String>,
    default: String,
}

impl Route {
    fn expected_variant(
        &self,
        gate_value: Option<bool>,
        value: Option<&str>,
    ) -> (String, Option<String>) {
        match (self.kind, gate_value, value) {
            ("gate", Some(true), _) => ("app_b".into(), None),
            ("gate", _, _) => ("app_a".into(), None),
            (_, _, Some(v)) => match self.map.get(v) {
                Some(variant) => (variant.clone(), None),
                None => (self.default.clone(), Some(v.to_string())),
            },
            (_, _, None) => (self.default.clone(), None),
        }
    }
}

/// One route per gate, experiment and dynamic config. Experiment routes map
/// only their first two groups' values: the third group, layer defaults,
/// holdout values and shipped groups must go to the route's `default`.
fn routes(specs: &Value, golden: &Value) -> Vec<Route> {
    let mut routes = Vec::new();
    for (index, name) in golden["gates"].as_array().unwrap().iter().enumerate() {
        let name = name.as_str().unwrap();
        routes.push(Route {
            path: format!("/gate/{name}"),
            name: name.into(),
            kind: "gate",
            list: "gates",
            index,
            unit: specs["feature_gates"][name]["idType"]
                .as_str()
                .unwrap()
                .into(),
            map: BTreeMap::new(),
            default: "app_a".into(),
        });
    }
    for (kind, list) in [
        ("experiment", "experiments"),
        ("dynamic_config", "dynamic_configs"),
    ] {
        for (index, name) in golden[list].as_array().unwrap().iter().enumerate() {
            let name = name.as_str().unwrap();
            let spec = &specs["dynamic_configs"][name];
            let mut values: Vec<String> = Vec::new();
            for rule in spec["rules"].as_array().unwrap() {
                let grouped = rule["isExperimentGroup"] == true || kind == "dynamic_config";
                if let (true, Some(v)) = (grouped, rule["returnValue"]["variant"].as_str()) {
                    if !values.iter().any(|x| x == v) {
                        values.push(v.to_string());
                    }
                }
            }
            let map = values
                .iter()
                .take(2)
                .zip(["app_a", "app_b"])
                .map(|(v, variant)| (v.clone(), variant.to_string()))
                .collect();
            routes.push(Route {
                path: format!("/{kind}/{name}"),
                name: name.into(),
                kind,
                list,
                index,
                unit: spec["idType"].as_str().unwrap().into(),
                map,
                default: "app_c".into(),
            });
        }
    }
    routes
}

fn config(routes: &[Route]) -> String {
    let mut c = String::from(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 2
[plugins]
dir = "plugins"
[statsig]
specs_file = "specs.json"
exposures_file = "exposures.jsonl"
[user]
user_agent = true
"#,
    );
    for (header, field, _) in ATTRIBUTES {
        writeln!(
            c,
            "[[user.attributes]]\nheader = \"{header}\"\nfield = \"{field}\""
        )
        .unwrap();
    }
    for (header, id_type, _) in IDS {
        writeln!(
            c,
            "[[user.ids]]\nid_type = \"{id_type}\"\nheader = \"{header}\""
        )
        .unwrap();
    }
    for v in ["app_a", "app_b", "app_c"] {
        writeln!(c, "[variants.{v}]\nplugin = \"{v}\"").unwrap();
    }
    for r in routes {
        writeln!(
            c,
            "[[routes]]\npath = \"{}/process/{{message}}\"\nstrip_prefix = \"{}\"",
            r.path, r.path
        )
        .unwrap();
        if r.kind == "gate" {
            writeln!(
                c,
                "gate = \"{}\"\npass = \"app_b\"\nfail = \"app_a\"",
                r.name
            )
            .unwrap();
        } else {
            let map: Vec<String> = r
                .map
                .iter()
                .map(|(k, v)| format!("{k:?} = {v:?}"))
                .collect();
            writeln!(
                c,
                "{} = \"{}\"\nmap = {{ {} }}\ndefault = \"{}\"",
                r.kind,
                r.name,
                map.join(", "),
                r.default
            )
            .unwrap();
        }
    }
    c
}

/// The request a golden user makes: headers for every mapped field and id
/// they have, `User-Agent` when they have one, `user_key` unless anonymous.
fn request(
    client: &reqwest::blocking::Client,
    url: String,
    user: &Value,
) -> reqwest::blocking::RequestBuilder {
    let mut r = client.get(url);
    if let Some(ua) = user["user_agent"].as_str() {
        r = r.header("User-Agent", ua);
    }
    for (header, _, key) in ATTRIBUTES.iter().chain(IDS) {
        if let Some(v) = user[*key].as_str() {
            r = r.header(*header, v);
        }
    }
    r
}

fn with_user_key(base: String, user: &Value) -> String {
    match user["user_key"].as_str() {
        Some(k) => format!("{base}user_key={k}"),
        None => base.trim_end_matches(['&', '?']).to_string(),
    }
}

fn short(user: &Value) -> String {
    user["user_key"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("anonymous stableID={}", user["stable_id"]))
}

/// Compare `got` (an explain answer) with the golden decision; mismatches
/// are pushed as one line each.
fn compare(route: &Route, expected: &Value, got: &Value, user: &Value, out: &mut Vec<String>) {
    let who = short(user);
    let mut check = |what: &str, want: Value, have: &Value| {
        if &want != have {
            out.push(format!(
                "{} {} for {who}: {what}: statsig-python-core {want}, variantd {have}",
                route.kind, route.name
            ));
        }
    };
    let e = expected.as_array().unwrap();
    let (gate_value, group, rule_id, value) = match route.kind {
        "gate" => (e[0].as_bool(), Value::Null, &e[1], Value::Null),
        "experiment" => (None, e[0].clone(), &e[1], e[2].clone()),
        _ => (None, Value::Null, &e[0], e[1].clone()),
    };
    check(
        "decision",
        Value::from(route.name.as_str()),
        &got["decision"],
    );
    check("kind", Value::from(route.kind), &got["kind"]);
    check(
        "unit_type",
        Value::from(route.unit.as_str()),
        &got["unit_type"],
    );
    check("rule_id", rule_id.clone(), &got["rule_id"]);
    if route.kind == "gate" {
        check("gate_value", Value::from(gate_value), &got["gate_value"]);
    } else {
        check("value", value.clone(), &got["value"]);
    }
    if route.kind == "experiment" {
        check("group", group, &got["group"]);
    }
    let (variant, unmapped) = route.expected_variant(gate_value, value.as_str());
    check("variant", Value::from(variant), &got["variant"]);
    check(
        "unmapped_value",
        Value::from(unmapped),
        &got["unmapped_value"],
    );
    let reason = got["reason"].as_str().unwrap_or_default();
    if !reason.ends_with(":Recognized") {
        out.push(format!(
            "{} {} for {who}: reason {reason:?}",
            route.kind, route.name
        ));
    }
}

/// Whether the user's request carries the unit the decision is made on.
fn has_unit(user: &Value, unit_type: &str) -> bool {
    match unit_type {
        "" | "userID" => user["user_key"].is_string(),
        t => IDS
            .iter()
            .find(|(_, id_type, _)| id_type.eq_ignore_ascii_case(t))
            .is_some_and(|(_, _, key)| user[*key].is_string()),
    }
}

#[test]
fn every_decision_equals_statsig_python_core_and_none_is_a_5xx() {
    let started = std::time::Instant::now();
    let specs = read_json("specs.json");
    let golden = read_json("golden.json");
    let routes = routes(&specs, &golden);
    let users = golden["users"].as_array().unwrap();

    let work = Workdir::new().with_example_plugins();
    std::fs::copy(
        parity_dir().join("specs.json"),
        work.path().join("specs.json"),
    )
    .unwrap();
    work.write_config(&config(&routes));
    let d = work.start();

    // 1. Every decision, through explain (no exposure, no variant call).
    // Two client threads (the daemon has two workers), each on keep-alive.
    let chunks: Vec<&[Value]> = users.chunks(users.len().div_ceil(2)).collect();
    let (mismatches, compared) = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let (d, routes) = (&d, &routes);
                s.spawn(move || {
                    let client = client();
                    let mut out = Vec::new();
                    let mut compared = 0usize;
                    for row in *chunk {
                        let user = &row["user"];
                        for route in routes.iter() {
                            let url = with_user_key(
                                d.url(&format!("/admin/explain?path={}/process/m&", route.path)),
                                user,
                            );
                            let resp = request(&client, url, user).send().unwrap();
                            let status = resp.status().as_u16();
                            let got: Value = resp.json().unwrap_or(Value::Null);
                            if status != 200 {
                                out.push(format!(
                                    "explain {} for {}: {status} {got}",
                                    route.path,
                                    short(user)
                                ));
                                continue;
                            }
                            compare(route, &row[route.list][route.index], &got, user, &mut out);
                            compared += 1;
                        }
                    }
                    (out, compared)
                })
            })
            .collect();
        handles
            .into_iter()
            .fold((Vec::new(), 0), |(mut all, n), h| {
                let (out, c) = h.join().unwrap();
                all.extend(out);
                (all, n + c)
            })
    });
    let explained_in = started.elapsed();

    // 2. Real routed requests for every 7th user (one in ten is anonymous) on every route: never a
    // 5xx. The variant is the one the golden decision maps to; a 400 exactly
    // where the decision's unit id is missing from the request (no
    // `[[user.ids]] default` is configured), naming where it was looked for.
    let client = client();
    let mut served = 0;
    let mut refused = 0;
    let mut bad = Vec::new();
    for row in users.iter().step_by(7) {
        let user = &row["user"];
        for route in &routes {
            let url = with_user_key(d.url(&format!("{}/process/m?", route.path)), user);
            let resp = request(&client, url, user).send().unwrap();
            let status = resp.status().as_u16();
            let variant = resp
                .headers()
                .get("x-variantd-variant")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp.text().unwrap_or_default();
            let e = row[route.list][route.index].as_array().unwrap();
            let (want, _) = match route.kind {
                "gate" => route.expected_variant(e[0].as_bool(), None),
                "experiment" => route.expected_variant(None, e[2].as_str()),
                _ => route.expected_variant(None, e[1].as_str()),
            };
            let looked_in = match route.unit.as_str() {
                "userID" => "user_key",
                unit => IDS.iter().find(|(_, t, _)| *t == unit).unwrap().0,
            };
            let fine = match (has_unit(user, &route.unit), status) {
                (true, 200) => variant.as_deref() == Some(want.as_str()),
                (false, 400) => body.to_lowercase().contains(&looked_in.to_lowercase()),
                _ => false,
            };
            match (fine, status) {
                (true, 200) => served += 1,
                (true, _) => refused += 1,
                (false, _) => bad.push(format!(
                    "GET {}/process/m for {} (unit {}): {status} {variant:?} {body}, expected {}",
                    route.path,
                    short(user),
                    route.unit,
                    if has_unit(user, &route.unit) {
                        format!("200 from {want}")
                    } else {
                        format!("400 naming {looked_in}")
                    }
                )),
            }
        }
    }

    let total: usize = users.len() * routes.len();
    eprintln!(
        "statsig parity against {} {}: {} users, {} routes, {compared} of {total} decisions compared in {:.1?}, {} mismatches; \
         {served} routed requests served, {refused} refused 400 for a missing unit id, {} wrong; {:.1?} in all",
        golden["package"].as_str().unwrap(),
        golden["version"].as_str().unwrap(),
        users.len(),
        routes.len(),
        explained_in,
        mismatches.len(),
        bad.len(),
        started.elapsed()
    );
    let mut report = String::new();
    for m in mismatches.iter().chain(&bad) {
        writeln!(report, "  {m}").unwrap();
    }
    assert!(
        mismatches.is_empty() && bad.is_empty() && compared == total,
        "{} of {total} decisions differ from statsig-python-core, {} routed requests went wrong:\n{report}",
        mismatches.len(),
        bad.len()
    );
    assert!(
        served > 0 && refused > 0,
        "both sides of the unit-id rule were exercised"
    );
}
