//! Command line. Every flag has an environment-variable twin and overrides
//! the config file.

use std::path::PathBuf;

use clap::Parser;

use crate::config::Overrides;

#[derive(Debug, Parser)]
#[command(
    name = "variantd",
    version,
    about = "A/B testing at the routing layer: Statsig decides, plugins or remote apps answer."
)]
pub struct Cli {
    /// Config file (TOML). Relative paths inside it resolve against its directory.
    #[arg(long, env = "VARIANTD_CONFIG", default_value = "config/variantd.toml")]
    pub config: PathBuf,
    /// Listen address, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, env = "VARIANTD_LISTEN")]
    pub listen: Option<String>,
    /// Address of the admin API's own listener (`server.admin_listen`).
    #[arg(long, env = "VARIANTD_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// Directory of plugin libraries.
    #[arg(long, env = "VARIANTD_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Statsig specs file (dcs-v2 JSON).
    #[arg(long, env = "VARIANTD_SPECS")]
    pub specs: Option<PathBuf>,
    /// HTTP worker threads (0 = one per core).
    #[arg(long, env = "VARIANTD_WORKERS")]
    pub workers: Option<usize>,
    /// Validate the config and exit.
    #[arg(long)]
    pub check: bool,
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            admin_listen: self.admin_listen.clone(),
            plugin_dir: self.plugin_dir.clone(),
            specs_file: self.specs.clone(),
            workers: self.workers,
        }
    }
}
