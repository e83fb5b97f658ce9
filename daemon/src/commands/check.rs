//! `variantd --check [--allow-degraded]`: what start-up would find. The
//! config must parse (else its file:line:key error); then every problem the
//! daemon would start with anyway (it serves degraded: 503s for a missing
//! plugin, defaults for a missing gate) is an error here, or with
//! `--allow-degraded` a warning, each naming its key.

use std::collections::BTreeSet;

use crate::backends::plugin::{Loader, Retention, TrustedDir};
use crate::control::config::{Config, RouteDecision, VariantTarget};
use variantd_decision::DecisionKind;

/// Exit status: 0 when nothing (or, degraded allowed, only warnings) was found.
pub fn run(config: &Config, allow_degraded: bool) -> i32 {
    let findings = findings(config);
    let label = if allow_degraded { "warning" } else { "error" };
    for f in &findings {
        eprintln!("{}: {label}: {f}", config.source.display());
    }
    if findings.is_empty() || allow_degraded {
        println!(
            "{}: ok ({} variants, {} routes{})",
            config.source.display(),
            config.variants.len(),
            config.routes.len(),
            if findings.is_empty() {
                String::new()
            } else {
                format!(", {} warnings", findings.len())
            }
        );
        0
    } else {
        1
    }
}

/// Each problem as `key: what`.
fn findings(config: &Config) -> Vec<String> {
    let mut found = Vec::new();
    let specs_key = if variantd_decision::is_definitions_file(&config.statsig.specs_file) {
        "statsig.definitions_file"
    } else {
        "statsig.specs_file"
    };
    match variantd_decision::check_specs_source(&config.statsig.specs_file) {
        Err(e) => found.push(format!("{specs_key}: {e}")),
        Ok(specs) => {
            for (i, route) in config.routes.iter().enumerate() {
                let RouteDecision::Decide(spec) = &route.decision else {
                    continue;
                };
                let names = match spec.kind() {
                    DecisionKind::Gate => &specs.gates,
                    DecisionKind::Experiment => &specs.experiments,
                    DecisionKind::DynamicConfig => &specs.dynamic_configs,
                };
                if !names.iter().any(|n| n == spec.name()) {
                    found.push(format!(
                        "routes[{i}].{}: `{}` is not in {} ({}); the route would always answer its default",
                        spec.kind().as_str(),
                        spec.name(),
                        config.statsig.specs_file.display(),
                        specs_key
                    ));
                }
            }
        }
    }

    let wanted: BTreeSet<(&str, &str)> = config
        .variants
        .values()
        .filter_map(|v| match &v.target {
            VariantTarget::Plugin { plugin, .. } => Some((v.name.as_str(), plugin.as_str())),
            VariantTarget::Remote(_) => None,
        })
        .collect();
    if wanted.is_empty() {
        return found;
    }
    let dir = &config.plugins.dir;
    let trusted = match TrustedDir::check(dir) {
        Ok(t) => t,
        Err(e) => {
            found.push(format!("plugins.dir: {e}"));
            return found;
        }
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        found.push(format!("plugins.dir: cannot list {}", dir.display()));
        return found;
    };
    // Load (but never `init`) each candidate, as the daemon's scan would,
    // to learn the names the files declare.
    let loader = Loader::new(std::sync::Arc::new(Retention::new(usize::MAX)));
    let mut declared = BTreeSet::new();
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .is_some_and(|n| crate::control::is_candidate(&config.plugins, &n))
        })
        .collect();
    files.sort();
    for file in files {
        let loaded = trusted
            .inspect(&file)
            .and_then(|(real, _)| trusted.read(&real, &config.plugins.allowed_sha256))
            .map_err(crate::backends::plugin::LoadError::from)
            .and_then(|t| loader.load_bytes(&file, &t.bytes, t.sha256));
        match loaded {
            Ok(lib) => {
                declared.insert(lib.name.clone());
            }
            Err(e) => found.push(format!("plugins.dir: {} is refused: {e}", file.display())),
        }
    }
    for (variant, plugin) in wanted {
        if !declared.contains(plugin) {
            let loaded: Vec<&str> = declared.iter().map(String::as_str).collect();
            found.push(format!(
                "variants.{variant}.plugin: no file in {} declares plugin `{plugin}` (plugins found: {})",
                dir.display(),
                if loaded.is_empty() { "none".to_string() } else { loaded.join(", ") }
            ));
        }
    }
    found
}
