//! Command line. Run without a subcommand, `variantd` is the daemon; every
//! daemon flag has an environment-variable twin and overrides the config
//! file. Subcommands are tools that do their job and exit.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::control::config::Overrides;

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
    /// Check the config and what start-up would find (specs file, the
    /// gates and experiments routes use, plugin files), then exit: non-zero
    /// on any problem.
    #[arg(long)]
    pub check: bool,
    /// With --check: report what start-up could serve around (a missing
    /// plugin, gate or specs file) as warnings, exiting 0.
    #[arg(long, requires = "check")]
    pub allow_degraded: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// How one request would be routed (route, decision, variant, rule,
    /// reason), offline: no variant called, no exposure logged.
    Explain(ExplainArgs),
    /// Statsig specs: build them from a definitions file, show them in
    /// words, or pull what Statsig serves.
    Specs {
        #[command(subcommand)]
        action: SpecsCommand,
    },
    /// Experiment results from exposure and event files (any number of
    /// replicas'): groups, SRM, rates, lifts, p-values.
    Results(ResultsArgs),
    /// Plugin kit: write a new plugin project, or check a built plugin file
    /// the way the daemon would load it.
    Plugin {
        #[command(subcommand)]
        action: PluginCommand,
    },
}

/// `variantd plugin new | check`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Write a ready plugin project: manifest or Makefile, source with one
    /// route, and a test that loads the built file with `variantd plugin check`.
    New {
        /// The plugin's declared name (letters, digits, `_`, `-`): what a
        /// variant's `plugin = "…"` names.
        name: String,
        #[arg(long, value_enum, default_value_t = PluginLang::Rust)]
        lang: PluginLang,
        /// Project directory to create (default: ./NAME). Must not exist or be empty.
        #[arg(long, value_name = "PATH")]
        dir: Option<PathBuf>,
    },
    /// Load FILE.so in a child process as the daemon would, print its name,
    /// version and ABI, run init and one request; exit 1 with the refusal
    /// reason. Usage: check FILE.so [--config JSON] [--request "METHOD PATH"]
    /// [--route PATTERN] [--variant NAME]. Give FILE.so first: `--config` is
    /// also the daemon's global flag (the config file), so the plugin
    /// check's own options are read after FILE.so.
    Check {
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "FILE.so [OPTIONS]"
        )]
        args: Vec<String>,
    },
    /// The child process of `check` (re-executed so a crashing plugin
    /// cannot take the checker down). Not for direct use.
    #[command(name = "__check-child", hide = true)]
    CheckChild {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginLang {
    Rust,
    C,
}

/// `variantd results`: the numbers `GET /results` serves, offline.
#[derive(Debug, Args)]
pub struct ResultsArgs {
    /// Exposure files: a path or a glob (`var/exposures.jsonl*` takes the
    /// rotated files too). Repeat for several replicas.
    #[arg(long, required = true)]
    pub exposures: Vec<String>,
    /// Event files, when they are not the exposure files (a file named by
    /// both is read once).
    #[arg(long)]
    pub events: Vec<String>,
    #[arg(long, value_enum, default_value_t = ResultsFormat::Table)]
    pub format: ResultsFormat,
    /// A dcs-v2 specs file or a definitions file (default: the config's).
    #[arg(long)]
    pub specs: Option<PathBuf>,
    /// The control group of a decision, e.g. `variant_experiment=B`
    /// (default: the routes' choice, else `fail` for a gate and the first
    /// group for an experiment). Repeatable.
    #[arg(long, value_name = "DECISION=GROUP")]
    pub control: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResultsFormat {
    /// A readable table per decision.
    Table,
    /// The decisions as JSON, as `GET /results` serves them.
    Json,
}

/// `variantd explain`: which route, decision, variant and rule one request
/// gets, offline, without calling the variant or logging an exposure.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The request path, e.g. /process/hello (a query may follow).
    #[arg(long)]
    pub path: String,
    /// The user key, put where the config reads it from.
    #[arg(long)]
    pub user: Option<String>,
    /// A request header, `Name: value` (repeatable): mapped attributes,
    /// User-Agent, custom unit ids.
    #[arg(long)]
    pub header: Vec<String>,
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
