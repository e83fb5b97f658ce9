//! `variantd specs build | show | pull`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use variantd_decision::{build_specs_from_file, describe_specs, is_definitions_file, SecretKey};

use crate::cli::{DaemonArgs, SpecsCommand};
use crate::control::config::Config;

pub async fn run(action: SpecsCommand, daemon: &DaemonArgs) -> anyhow::Result<i32> {
    match action {
        SpecsCommand::Build { file, out } => {
            let json = build_specs_from_file(&file, now_ms())?;
            match out {
                Some(out) => {
                    write_atomic(&out, &json)?;
                    eprintln!("{}: wrote {}", file.display(), out.display());
                }
                None => println!("{json}"),
            }
            Ok(0)
        }
        SpecsCommand::Show { file } => {
            let file = match file {
                Some(f) => f,
                None => {
                    Config::load(&daemon.config, &daemon.overrides())?
                        .statsig
                        .specs_file
                }
            };
            let json = if is_definitions_file(&file) {
                build_specs_from_file(&file, now_ms())?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            print!("{}", describe_specs(&json)?);
            Ok(0)
        }
        SpecsCommand::Pull { out } => {
            let Some(key) = std::env::var("STATSIG_API_KEY")
                .ok()
                .filter(|k| !k.is_empty())
            else {
                anyhow::bail!("STATSIG_API_KEY is not set: pulling needs the server secret");
            };
            // The config, if there is one, may name an API proxy and a timeout.
            let (api_url, timeout) = match Config::load(&daemon.config, &daemon.overrides()) {
                Ok(c) => (
                    c.statsig.api_url.clone(),
                    Duration::from_millis(c.statsig.init_timeout_ms.max(1000)),
                ),
                Err(_) => (None, Duration::from_secs(10)),
            };
            let json =
                variantd_decision::pull_specs(&SecretKey::new(key), api_url.as_deref(), timeout)
                    .await?;
            write_atomic(&out, &json)?;
            eprintln!("wrote what Statsig serves to {}", out.display());
            Ok(0)
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Write `text` to a temporary name beside `path`, then rename it into
/// place: a watching daemon never reads half a file.
fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}
