//! Command line. Run without a subcommand, `variantd` is the daemon; every
//! daemon flag has an environment-variable twin and overrides the config
//! file. Subcommands are tools that do their job and exit.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

#[derive(Debug, Parser)]
#[command(
    name = "variantd",
    version,
    about = "A/B testing at the routing layer: Statsig decides, plugins or remote apps answer.",
    after_help = "Environment:\n  STATSIG_API_KEY       Statsig server secret: sync rules live and send exposures to Statsig (never printed)\n  VARIANTD_ADMIN_TOKEN  bearer token the admin API requires (unset: loopback callers only)\n  RUST_LOG              log levels, e.g. info or variantd=debug (default info)\n  VARIANTD_CONFIG, VARIANTD_LISTEN, VARIANTD_ADMIN_LISTEN, VARIANTD_PLUGIN_DIR,\n  VARIANTD_SPECS, VARIANTD_WORKERS  twins of the flags above"
)]
pub struct Cli {
    #[command(flatten)]
    pub daemon: DaemonArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The daemon's flags (also read by subcommands that need the config).
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Config file (TOML). Relative paths inside it resolve against its directory.
    #[arg(
        long,
        env = "VARIANTD_CONFIG",
        default_value = "config/variantd.toml",
        global = true
    )]
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
    /// Statsig specs file (dcs-v2 JSON) or definitions file (TOML).
    #[arg(long, env = "VARIANTD_SPECS")]
    pub specs: Option<PathBuf>,
    /// HTTP worker threads (0 = one per core).
    #[arg(long, env = "VARIANTD_WORKERS")]
    pub workers: Option<usize>,
    /// Validate the config and exit.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Statsig specs: build them from a definitions file, show them in
    /// words, or pull what Statsig serves.
    Specs {
        #[command(subcommand)]
        action: SpecsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SpecsCommand {
    /// Turn a definitions file (TOML) into the dcs-v2 document statsig evaluates.
    Build {
        /// The definitions file, e.g. config/experiments.toml.
        file: PathBuf,
        /// Where to write the document (default: standard output).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Every gate, experiment and dynamic config with its rules, in plain words.
    Show {
        /// A dcs-v2 specs file or a definitions file (default: the config's).
        file: Option<PathBuf>,
    },
    /// Save what Statsig serves for STATSIG_API_KEY, for an offline start.
    Pull {
        /// Where to write the document.
        #[arg(long)]
        out: PathBuf,
    },
}

impl DaemonArgs {
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
