//! `variantd results`: the numbers `GET /results` serves, from files.

use anyhow::Context;

use crate::cli::{DaemonArgs, ResultsArgs, ResultsFormat};
use crate::control::config::Config;

pub fn run(args: ResultsArgs, daemon: &DaemonArgs) -> anyhow::Result<i32> {
    // The config supplies the default specs and the routes (which variants
    // each group routes to); with --specs given, a missing config is fine.
    let config = match Config::load(&daemon.config, &daemon.overrides()) {
        Ok(config) => Some(config),
        Err(e) if args.specs.is_some() => {
            eprintln!(
                "variantd results: no usable config ({e}); groups are shown without their variants"
            );
            None
        }
        Err(e) => return Err(e).context("loading the config for its specs file (or pass --specs)"),
    };
    let specs_path = match (&args.specs, &config) {
        (Some(path), _) => path.clone(),
        (None, Some(config)) => config.statsig.specs_file.clone(),
        (None, None) => unreachable!("a missing config without --specs returned above"),
    };
    let specs = crate::results::specs_json(&specs_path)?;
    let mut builder = variantd_results::Analysis::builder()
        .specs_json(&specs)
        .with_context(|| format!("reading {}", specs_path.display()))?;
    if let Some(config) = &config {
        builder = crate::results::apply_routes(builder, &config.routes);
    }
    for control in &args.control {
        let Some((decision, group)) = control.split_once('=') else {
            anyhow::bail!("--control {control:?}: expected DECISION=GROUP");
        };
        builder = builder.control(decision, group);
    }
    builder = builder.add_paths(args.exposures.iter().chain(&args.events))?;
    if builder.paths().is_empty() {
        eprintln!("variantd results: no file matches the given --exposures/--events");
    }
    let report = builder.compute()?;
    match args.format {
        ResultsFormat::Json => println!("{}", serde_json::to_string_pretty(&report.decisions)?),
        ResultsFormat::Table => print!("{}", variantd_results::render_table(&report.decisions)),
    }
    Ok(0)
}
