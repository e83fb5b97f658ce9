//! Parsing and validation; evaluation by statsig is tested in decision/tests.

use super::*;

fn err(text: &str) -> String {
    Definitions::parse(text, "experiments.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn the_issue_example_parses_with_defaults() {
    let defs = Definitions::parse(
        r#"
[gates.variant_b]
rules = [
  { name = "qa_allowlist", user_ids = ["qa-alice", "qa-bob"] },
  { name = "enterprise", field = "plan", any_of = ["enterprise"] },
  { name = "rollout", percent = 50 },
]
[experiments.variant_experiment]
parameter = "variant"
groups = [ { name = "A", percent = 34, value = "A" }, { name = "B", percent = 33, value = "B" }, { name = "C", percent = 33, value = "C" } ]
"#,
        "experiments.toml",
    )
    .unwrap();
    let gate = &defs.gates[0];
    assert_eq!(
        (gate.salt.as_str(), gate.id_type.as_str()),
        ("variant_b", "userID")
    );
    assert_eq!(gate.rules[2].salt, "rollout");
    assert_eq!(gate.rules[2].percent, 50.0);
    assert!(gate.rules[2].conditions.is_empty());
    let exp = &defs.experiments[0];
    let buckets: Vec<u32> = exp.groups.iter().map(|g| g.buckets).collect();
    assert_eq!(buckets, [340, 330, 330]);
    assert_eq!(exp.groups[0].value["variant"], "A");
    assert_eq!(exp.allocation_buckets, 1000);
}

#[test]
fn errors_name_file_line_column_and_key() {
    let e = err("[gates.g]\nrules = [\n  { name = \"r\", percnt = 5 },\n]\n");
    assert!(e.starts_with("experiments.toml:3:"), "{e}");
    assert!(e.contains("gates.g.rules[0]"), "{e}");
    assert!(e.contains("percnt"), "{e}");

    let e = err("[gates.g]\nrules = [{ name = \"r\", percent = 150 }]\n");
    assert!(e.starts_with("experiments.toml:2:"), "{e}");
    assert!(
        e.contains("gates.g.rules[0].percent: 150 is not a percent"),
        "{e}"
    );

    let e = err("[gatess.g]\n");
    assert!(e.starts_with("experiments.toml:1:"), "{e}");
    assert!(e.contains("gatess"), "{e}");

    let e = err("[gates.g\n");
    assert!(e.starts_with("experiments.toml:1:"), "{e}");
}

#[test]
fn validation_refuses_what_statsig_would_misread() {
    let groups = |g: &str| format!("[experiments.e]\nparameter = \"v\"\ngroups = [{g}]\n");
    let e = err(&groups(
        r#"{ name = "A", percent = 60, value = "A" }, { name = "B", percent = 50, value = "B" }"#,
    ));
    assert!(
        e.contains("experiments.e.groups: group percents add up to 110%"),
        "{e}"
    );
    let e = err(&groups(r#"{ name = "A", percent = 33.33, value = "A" }"#));
    assert!(e.contains("steps of 0.1"), "{e}");
    let e = err(&groups(
        r#"{ name = "A", percent = 50, value = "A" }, { name = "A", percent = 50, value = "B" }"#,
    ));
    assert!(
        e.contains("groups[1].name: group `A` is defined twice"),
        "{e}"
    );
    let e = err(&groups(r#"{ name = "A", percent = 50, value = "" }"#));
    assert!(e.contains("groups[0].value: the value is empty"), "{e}");
    let e = err("[experiments.e]\ngroups = [{ name = \"A\", percent = 50, value = \"A\" }]\n");
    assert!(e.contains("must be a table"), "{e}");

    let e = err("[gates.x]\n[dynamic_configs.x]\n");
    assert!(e.contains("used twice"), "{e}");
    let e = err("[gates.g]\nrules = [{ name = \"r\" }, { name = \"r\", percent = 5 }]\n");
    assert!(
        e.contains("rules[1].name: rule `r` is defined twice"),
        "{e}"
    );
    let e = err("[gates.g]\nrules = [{ name = \"r\", user_ids = [] }]\n");
    assert!(e.contains("rules[0].user_ids: the list is empty"), "{e}");
    let e = err("[gates.g]\nrules = [{ name = \"r\", any_of = [\"x\"] }]\n");
    assert!(e.contains("rules[0].field"), "{e}");
    let e = err("[gates.g]\nrules = [{ name = \"r\", passes_gate = \"nope\" }]\n");
    assert!(e.contains("no gate `nope`"), "{e}");
    let e = err("[gates.g]\nrules = [{ name = \"r\", value = 1 }]\n");
    assert!(e.contains("rules[0].value"), "{e}");
    let e = err(
        "[dynamic_configs.c]\nrules = [{ name = \"r\", field = \"plan\", any_of = [\"x\"] }]\n",
    );
    assert!(e.contains("dynamic_configs.c.rules[0].value"), "{e}");
}

#[test]
fn fields_map_to_statsig_condition_kinds() {
    assert_eq!(user_field("email"), UserField::TopLevel("email".into()));
    assert_eq!(
        user_field("appversion"),
        UserField::TopLevel("appVersion".into())
    );
    assert_eq!(
        user_field("os_name"),
        UserField::UserAgent("os_name".into())
    );
    assert_eq!(user_field("country"), UserField::Country);
    assert_eq!(user_field("plan"), UserField::Custom("plan".into()));
}
