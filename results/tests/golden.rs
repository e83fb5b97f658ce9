//! The engine against the independent reference: results/tests/golden/*.json
//! were computed by tests/reference/make_golden.py (SciPy, statsmodels,
//! gbstats) from the fixtures in tests/data/. Python is not needed here.
//!
//! Tolerance: counts, names and flags exactly; every real number within
//! 1e-6, relative for magnitudes above 1 (chi-squared statistics, means of
//! values). No method differs from the reference, so no wider tolerance is
//! needed; the 1e-6 absorbs summation order and statrs' special functions.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use serde_json::Value;
use variantd_results::{Analysis, AnalysisBuilder, Report};

const TOLERANCE: f64 = 1e-6;

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn golden(dataset: &str) -> Value {
    let path = tests_dir().join("golden").join(format!("{dataset}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A builder configured as the golden file says (specs, controls, variants).
fn builder_for(golden: &Value) -> AnalysisBuilder {
    let specs = std::fs::read_to_string(tests_dir().join("data/statsig_specs.json")).unwrap();
    let mut builder = Analysis::builder().specs_json(&specs).unwrap();
    for (decision, group) in golden["controls"].as_object().unwrap() {
        builder = builder.control(decision, group.as_str().unwrap());
    }
    for (decision, groups) in golden["variants"].as_object().unwrap() {
        for (group, variants) in groups.as_object().unwrap() {
            let variants = variants
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned());
            builder = builder.variants(decision, group, variants);
        }
    }
    builder
}

fn patterns(golden: &Value) -> Vec<String> {
    golden["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| tests_dir().join(p.as_str().unwrap()).display().to_string())
        .collect()
}

/// Compares `actual` with every key `expected` has (extra keys in `actual`
/// are allowed); returns the paths that differ.
fn differences(path: &str, actual: &Value, expected: &Value, out: &mut Vec<String>) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (key, e) in e {
                match a.get(key) {
                    Some(a) => differences(&format!("{path}.{key}"), a, e, out),
                    None => out.push(format!("{path}.{key}: missing")),
                }
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            if a.len() != e.len() {
                out.push(format!("{path}: {} items, expected {}", a.len(), e.len()));
                return;
            }
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                differences(&format!("{path}[{i}]"), a, e, out);
            }
        }
        (Value::Number(a), Value::Number(e)) if !(e.is_u64() && a.is_u64()) => {
            let (a, e) = (a.as_f64().unwrap(), e.as_f64().unwrap());
            if (a - e).abs() > TOLERANCE * e.abs().max(1.0) {
                out.push(format!("{path}: {a} != {e}"));
            }
        }
        (a, e) if a == e => {}
        (a, e) => out.push(format!("{path}: {a} != {e}")),
    }
}

fn assert_matches_golden(dataset: &str, report: &Report, golden: &Value) {
    let actual = serde_json::to_value(report).unwrap();
    let mut out = Vec::new();
    differences("input", &actual["input"], &golden["input_counts"], &mut out);
    differences(
        "decisions",
        &actual["decisions"],
        &golden["decisions"],
        &mut out,
    );
    assert!(
        out.is_empty(),
        "{dataset}: {} differences from the reference:\n{}",
        out.len(),
        out.join("\n")
    );
}

/// Files in the order the engine reads them, concatenated: the same input
/// as one stream, read once.
fn concatenated(builder: &AnalysisBuilder) -> Vec<u8> {
    let mut all = Vec::new();
    for path in builder.paths() {
        let mut bytes = std::fs::read(path).unwrap();
        if !bytes.ends_with(b"\n") {
            // A truncated last line stays a line of its own.
            bytes.push(b'\n');
        }
        all.extend(bytes);
    }
    all
}

fn check(dataset: &str) {
    let golden = golden(dataset);
    let builder = builder_for(&golden).add_paths(patterns(&golden)).unwrap();
    let stream = concatenated(&builder);
    let report = builder.compute().unwrap();
    assert_matches_golden(dataset, &report, &golden);

    // The single-pass mode (events kept pending) agrees with the two-pass one.
    let streamed = builder_for(&golden)
        .compute_from_reader(Cursor::new(stream))
        .unwrap();
    assert_matches_golden(&format!("{dataset} (one pass)"), &streamed, &golden);
    // Also on the extra keys the reference does not compute (SRM tests).
    // Not bit-identical: per-group sums are added in hash order.
    let mut out = Vec::new();
    differences(
        "decisions",
        &serde_json::to_value(&streamed.decisions).unwrap(),
        &serde_json::to_value(&report.decisions).unwrap(),
        &mut out,
    );
    assert!(
        out.is_empty(),
        "{dataset}: one pass differs:\n{}",
        out.join("\n")
    );
}

#[test]
fn balanced_gate() {
    check("balanced_gate");
}

#[test]
fn three_group_experiment_over_two_replicas() {
    check("experiment_3groups");
}

#[test]
fn deliberate_sample_ratio_mismatch() {
    check("srm");
    let golden = golden("srm");
    let report = builder_for(&golden)
        .add_paths(patterns(&golden))
        .unwrap()
        .compute()
        .unwrap();
    for decision in &report.decisions {
        assert!(
            decision.srm.mismatch,
            "{}: {:?}",
            decision.name, decision.srm
        );
    }
}

#[test]
fn events_before_exposure_unexposed_users_and_rotated_files() {
    check("timing_rotation");
}

#[test]
fn golden_files_record_the_reference_versions() {
    for dataset in [
        "balanced_gate",
        "experiment_3groups",
        "srm",
        "timing_rotation",
    ] {
        let versions = &golden(dataset)["versions"];
        for package in ["scipy", "statsmodels", "gbstats", "numpy"] {
            assert!(versions[package].is_string(), "{dataset}: {package}");
        }
    }
}
