//! `variantd plugin new | check`: the plugin kit.
//!
//! `new` writes a project from the templates in `plugin/templates/` (kept as
//! text in the binary, so an installed `variantd` needs no source tree).
//! `check` loads a file with the daemon's own loader in a *child process*
//! (this binary re-executed with the hidden `plugin __check-child`): a plugin
//! that segfaults or aborts in its initialisers, `init` or `handle` kills the
//! child, and the parent reports the signal instead of dying with it.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use variantd_plugin_api::abi;

use crate::backends::plugin::{Loader, PluginInstance, PluginRequest, Retention, TrustedDir};
use crate::cli::{DaemonArgs, PluginCommand, PluginLang};

/// Exit status of `check` when the daemon would refuse the plugin.
const REFUSED: i32 = 1;
/// Exit status for a usage error (bad flags, `--config` not JSON, ...).
const USAGE: i32 = 2;

pub fn run(action: PluginCommand, daemon: &DaemonArgs) -> anyhow::Result<i32> {
    match action {
        PluginCommand::New { name, lang, dir } => new_project(&name, lang, dir),
        PluginCommand::Check { mut args } => {
            // `--config` is also the daemon's global flag; given before
            // FILE.so it lands there. A config *file* path never starts
            // with `{`, so such a value was meant for the plugin.
            let global = daemon.config.to_string_lossy();
            if global.trim_start().starts_with('{') && !args.iter().any(|a| a == "--config") {
                args.extend(["--config".to_owned(), global.into_owned()]);
            }
            let check = match parse_check(&args) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            check_in_child(&check, &args)
        }
        PluginCommand::CheckChild { args } => match parse_check(&args) {
            Ok(check) => Ok(check_here(&check)),
            Err(code) => Ok(code),
        },
    }
}

// ---------------------------------------------------------------- new

const RUST_CARGO_TOML: &str = include_str!("plugin/templates/rust/Cargo.toml");
const RUST_LIB_RS: &str = include_str!("plugin/templates/rust/src/lib.rs");
const RUST_TEST_RS: &str = include_str!("plugin/templates/rust/tests/load.rs");
const RUST_README: &str = include_str!("plugin/templates/rust/README.md");
const C_APP_C: &str = include_str!("plugin/templates/c/app.c");
const C_MAKEFILE: &str = include_str!("plugin/templates/c/Makefile");
const C_README: &str = include_str!("plugin/templates/c/README.md");

/// The names a project is written with.
struct Names {
    /// Declared name (descriptor), crate name.
    name: String,
    /// `name` with `-` as `_`: the library file is `lib<lib_name>.so`, and
    /// it is a valid variant name.
    lib_name: String,
    /// `name` in CamelCase, for the Rust plugin type.
    type_name: String,
}

impl Names {
    fn new(name: &str) -> anyhow::Result<Names> {
        // The loader refuses any other declared name (LoadError::BadName);
        // a leading letter also makes it a valid crate and C identifier part.
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            bail!("plugin name `{name}`: use a letter, then letters, digits, `_` or `-` (the daemon refuses other declared names)");
        }
        let type_name = name
            .split(['_', '-'])
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut cs = p.chars();
                let first = cs.next().map(|c| c.to_ascii_uppercase());
                first.into_iter().chain(cs).collect::<String>()
            })
            .collect();
        Ok(Names {
            name: name.to_owned(),
            lib_name: name.replace('-', "_"),
            type_name,
        })
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("{{name}}", &self.name)
            .replace("{{lib_name}}", &self.lib_name)
            .replace("{{type_name}}", &self.type_name)
            .replace("{{api_version}}", variantd_plugin_api::VERSION)
            .replace("{{api_path_hint}}", &api_path_hint())
    }
}

/// Where the SDK's sources are, for the commented `path =` alternative: this
/// binary's own checkout when it still exists, else a placeholder. Never
/// used as the dependency itself: the project must build outside this tree.
fn api_path_hint() -> String {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api");
    match here.canonicalize() {
        Ok(p) if p.join("Cargo.toml").is_file() => p.display().to_string(),
        _ => "path/to/variantd/plugin-api".to_owned(),
    }
}

fn new_project(name: &str, lang: PluginLang, dir: Option<PathBuf>) -> anyhow::Result<i32> {
    let names = Names::new(name)?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        let mut entries = std::fs::read_dir(&dir)
            .with_context(|| format!("{} exists and is not a readable directory", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} exists and is not empty; choose another --dir",
                dir.display()
            );
        }
    }
    let files: Vec<(&str, String)> = match lang {
        PluginLang::Rust => vec![
            ("Cargo.toml", names.fill(RUST_CARGO_TOML)),
            ("src/lib.rs", names.fill(RUST_LIB_RS)),
            ("tests/load.rs", names.fill(RUST_TEST_RS)),
            ("README.md", names.fill(RUST_README)),
            (".gitignore", "/target\n".to_owned()),
        ],
        PluginLang::C => vec![
            ("app.c", names.fill(C_APP_C)),
            ("Makefile", names.fill(C_MAKEFILE)),
            // A copy, so the project builds without a variantd checkout.
            (
                "include/variantd_plugin.h",
                variantd_plugin_api::C_HEADER.to_owned(),
            ),
            ("README.md", names.fill(C_README)),
            (".gitignore", "*.so\n*.o\n".to_owned()),
        ],
    };
    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let d = dir.display();
    println!("wrote {} plugin `{}` in {d}:", lang_name(lang), names.name);
    for (rel, _) in &files {
        println!("  {rel}");
    }
    let so = format!("lib{}.so", names.lib_name);
    match lang {
        PluginLang::Rust => println!(
            "next:\n  cd {d} && cargo build --release\n  variantd plugin check target/release/{so} --request \"GET /hello/world\" --route \"/hello/{{name}}\"\n  VARIANTD_BIN=$(command -v variantd) cargo test"
        ),
        PluginLang::C => println!(
            "next:\n  cd {d} && make\n  variantd plugin check ./{so} --request \"GET /hello/world\" --route \"/hello/{{name}}\""
        ),
    }
    Ok(0)
}

fn lang_name(lang: PluginLang) -> &'static str {
    match lang {
        PluginLang::Rust => "Rust",
        PluginLang::C => "C",
    }
}

// -------------------------------------------------------------- check

/// `plugin check`'s own options, parsed from what follows `check` (see
/// `PluginCommand::Check` for why clap does not parse them directly).
#[derive(Debug, Parser)]
#[command(name = "variantd plugin check", no_binary_name = true)]
struct CheckArgs {
    /// The plugin file (a shared library).
    file: PathBuf,
    /// The variant's plugin config as JSON, passed to init (default `{}`).
    #[arg(long, value_name = "JSON")]
    config: Option<String>,
    /// The one request to send: METHOD and PATH, the path may carry
    /// `?query`; as two words (`--request GET /x`) or one (`"GET /x"`).
    #[arg(long, value_name = "METHOD PATH", num_args = 1..=2, default_values = ["GET", "/"])]
    request: Vec<String>,
    /// A route pattern (`/hello/{name}`) matched against PATH: its
    /// `{params}` reach the plugin as the daemon's route would pass them.
    #[arg(long, value_name = "PATTERN")]
    route: Option<String>,
    /// The variant name the plugin is told it serves (default: its declared name).
    #[arg(long)]
    variant: Option<String>,
    /// Give up (and kill the child) when init and the request take longer.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,
}

fn parse_check(args: &[String]) -> Result<CheckArgs, i32> {
    CheckArgs::try_parse_from(args).map_err(|e| {
        let code = if e.use_stderr() { USAGE } else { 0 };
        let _ = e.print();
        code
    })
}

/// Run the check in a child process and report how it ended.
fn check_in_child(check: &CheckArgs, args: &[String]) -> anyhow::Result<i32> {
    let exe = std::env::current_exe().context("finding this executable to re-run it")?;
    let mut child = Command::new(&exe)
        .args(["plugin", "__check-child"])
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let deadline = Instant::now() + Duration::from_secs(check.timeout.max(1));
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "refused: no answer within {} s: the plugin's initialisers, init or handle block (the daemon would stall a thread the same way)",
                check.timeout
            );
            return Ok(REFUSED);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(exit_code(status))
}

fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code @ (0 | REFUSED | USAGE)), _) => code,
        (Some(code), _) => {
            eprintln!("refused: the checking process failed with exit status {code}");
            REFUSED
        }
        (None, Some(signal)) => {
            eprintln!(
                "refused: the plugin crashed the checking process: signal {signal} ({}); in the daemon this kills every request",
                signal_name(signal)
            );
            REFUSED
        }
        (None, None) => REFUSED,
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        4 => "SIGILL",
        6 => "SIGABRT: an abort, e.g. a Rust panic with panic = \"abort\" or unwinding out of extern \"C\"",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV: an invalid memory access",
        _ => "a signal",
    }
}

fn line(key: &str, value: impl std::fmt::Display) {
    println!("{:<10} {value}", format!("{key}:"));
}

fn refuse(reason: impl std::fmt::Display) -> i32 {
    let _ = std::io::stdout().flush();
    eprintln!("refused: {reason}");
    REFUSED
}

/// The child's work: every step the daemon takes for a plugin file, with
/// the daemon's own code, printing as it goes (flushed, so a crash still
/// leaves the lines before it).
fn check_here(check: &CheckArgs) -> i32 {
    // Plugin log lines (attributed `plugin=…`) on stderr, as the daemon logs them.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,plugin=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();

    let config = check.config.clone().unwrap_or_else(|| "{}".to_owned());
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&config) {
        eprintln!("variantd plugin check: --config is not JSON: {e}");
        return USAGE;
    }
    let request = check.request.join(" ");
    let Some((method, target)) = request.trim().split_once(' ') else {
        eprintln!("variantd plugin check: --request wants \"METHOD PATH\", e.g. \"GET /hello\"");
        return USAGE;
    };
    let target = target.trim();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.starts_with('/') {
        eprintln!("variantd plugin check: the request path must start with `/`");
        return USAGE;
    }
    let mut router = matchit::Router::new();
    let params: Vec<(String, String)> = match &check.route {
        None => Vec::new(),
        Some(pattern) => {
            if let Err(e) = router.insert(pattern.as_str(), ()) {
                eprintln!("variantd plugin check: --route {pattern}: {e}");
                return USAGE;
            }
            match router.at(path) {
                Ok(m) => m
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                Err(_) => {
                    eprintln!("variantd plugin check: --route {pattern} does not match {path}");
                    return USAGE;
                }
            }
        }
    };

    let file = &check.file;
    line("file", file.display());
    line("trust", trust(file));
    let _ = std::io::stdout().flush();

    let loader = Loader::new(Arc::new(Retention::new(8)));
    let library = match loader.load(file) {
        Ok(l) => l,
        Err(e) => return refuse(e),
    };
    let (major, minor) = library.abi_version();
    line("name", &library.name);
    line("version", &library.version);
    let newer = if minor > abi::ABI_VERSION_MINOR {
        "; newer than this daemon: what it appended is not used"
    } else {
        ""
    };
    line(
        "abi",
        format!(
            "{major}.{minor} (descriptor {} bytes; this daemon speaks {}.{}{newer})",
            library.descriptor_size(),
            abi::ABI_VERSION_MAJOR,
            abi::ABI_VERSION_MINOR
        ),
    );
    line("sha256", &library.sha256);
    let _ = std::io::stdout().flush();

    let variant = check
        .variant
        .clone()
        .unwrap_or_else(|| library.name.clone());
    let instance = match PluginInstance::init(&library, &variant, &config) {
        Ok(i) => i,
        Err(e) => return refuse(format!("{e} (config {config})")),
    };
    line("init", format!("ok (variant `{variant}`, config {config})"));
    line("request", format!("{method} {target}"));
    if !params.is_empty() {
        let shown: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line("params", shown.join(", "));
    }
    let _ = std::io::stdout().flush();

    let request = PluginRequest {
        method,
        path,
        query,
        headers: Vec::new(),
        body: b"",
        user_key: "",
        variant: &variant,
        decided_by: "",
        rule_id: "",
    };
    let borrowed: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let response = match instance.call_with_params(&request, &borrowed) {
        Ok(r) => r,
        Err(e) => {
            return refuse(format!(
                "handle {method} {target}: {e}; the daemon answers such a request with a 5xx"
            ))
        }
    };
    line("status", response.status);
    for (name, value) in &response.headers {
        line(
            "header",
            format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())),
        );
    }
    const SHOWN: usize = 4096;
    let body = String::from_utf8_lossy(&response.body[..response.body.len().min(SHOWN)]);
    let more = if response.body.len() > SHOWN {
        format!(" … ({} bytes in all)", response.body.len())
    } else {
        String::new()
    };
    line("body", format!("{body}{more}"));
    // Shutdown runs on the retention's reaper thread: wait for it, so a
    // crash in shutdown is reported too.
    drop(instance);
    drop(library);
    loader.retention().drain();
    println!("ok: the daemon can load `{variant}` from this file and serve this request");
    0
}

/// What the daemon's file checks (`TrustedDir`) say about `file` in its
/// directory, for *this* user: the daemon checks for its own.
fn trust(file: &Path) -> String {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let uid = rustix::process::geteuid().as_raw();
    let verdict = TrustedDir::check(&dir).and_then(|d| {
        let (real, _) = d.inspect(file)?;
        d.read(&real, &[]).map(|f| f.metadata)
    });
    match verdict {
        Ok(meta) => format!(
            "ok (mode {:04o}, owner uid {}, not writable by others; checked as uid {uid}: the daemon's user must own it, or root)",
            meta.permissions().mode() & 0o7777,
            meta.uid()
        ),
        Err(e) => format!(
            "WARNING: a daemon running as uid {uid} would refuse this file where it is: {e}"
        ),
    }
}
