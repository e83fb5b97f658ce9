//! Test support: real plugins built by cargo, a real daemon process on an
//! ephemeral loopback port, real HTTP. Nothing here fakes a part.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The shipped specs file.
pub fn shipped_specs() -> PathBuf {
    workspace_root().join("config/statsig_specs.json")
}

/// Directory holding every plugin and fixture .so, built once per test binary.
///
/// `cargo test` does not produce cdylib artifacts, and the outer cargo holds
/// the main target directory's lock while tests run, so the plugins are built
/// into a target directory of their own.
pub fn plugin_build_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = workspace_root();
        let target = root.join("target/test-plugins");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&root)
            .arg("build")
            .arg("--quiet")
            .arg("--target-dir")
            .arg(&target);
        for p in PLUGIN_PACKAGES {
            cmd.arg("-p").arg(p);
        }
        let status = cmd.status().expect("run cargo to build the test plugins");
        assert!(status.success(), "building the test plugins failed");
        target.join("debug")
    })
}

pub const PLUGIN_PACKAGES: &[&str] = &[
    "app_a",
    "app_b",
    "app_c",
    "fixture_echo",
    "fixture_swap_one",
    "fixture_swap_two",
    "fixture_failing_init",
    "fixture_panicking",
    "fixture_bad_abi",
    "fixture_small_descriptor",
    "fixture_null_hooks",
    "fixture_no_entry",
];

/// Path of a built library, e.g. `artifact("app_a")` or `artifact("fixture_echo")`.
pub fn artifact(crate_name: &str) -> PathBuf {
    let p = plugin_build_dir().join(format!("lib{crate_name}.so"));
    assert!(p.exists(), "{} was not built", p.display());
    p
}

/// Copy a built library into `dir` under `file_name`, atomically (write a
/// temporary name, then rename), as a deploy would.
pub fn deploy(crate_name: &str, dir: &Path, file_name: &str) {
    let tmp = dir.join(format!(".{file_name}.tmp"));
    std::fs::copy(artifact(crate_name), &tmp).unwrap();
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, dir.join(file_name)).unwrap();
}

/// Write `text` to `path` atomically.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A running daemon. Killed on drop.
pub struct Daemon {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// `http`, or `https` for a daemon with `[server.tls]`.
    pub scheme: &'static str,
    /// Where `server.admin_listen` bound, once the daemon has said so.
    admin: Arc<Mutex<Option<SocketAddr>>>,
    log: Arc<Mutex<String>>,
    /// Holds config, specs and plugins for this daemon.
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// A scratch directory laid out like a deployment: `plugins/`, `variantd.toml`,
/// `statsig_specs.json` (a copy of the shipped one).
pub struct Workdir {
    pub tmp: tempfile::TempDir,
}

/// Where scratch directories go: tmpfs (`/dev/shm`) when there is one, else
/// the system's temp dir. On this project's CI VMs (ext4 with online discard)
/// a test copying a 7 MB debug plugin into a disk directory 50 times had its
/// `rename`, and the daemon's `getdents` of that directory, block on the
/// journal for 0.5–18 s in 12 of 37 runs under load; on tmpfs the slowest of
/// 16 runs took 0.29 s. The tests time the daemon, not the host's disk.
/// A container's /dev/shm may be 64 MB, too small for a few workdirs of debug
/// plugins (about 25 MB each), so it is used only with 1 GiB to spare.
pub fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let roomy = rustix::fs::statvfs(shm)
            .is_ok_and(|fs| fs.f_bavail.saturating_mul(fs.f_frsize) >= 1 << 30);
        let writable = roomy
            && tempfile::Builder::new()
                .prefix("variantd-probe-")
                .tempdir_in(shm)
                .is_ok();
        if writable {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    })
}

impl Workdir {
    pub fn new() -> Workdir {
        let tmp = tempfile::Builder::new()
            .prefix("variantd-test-")
            .tempdir_in(scratch_root())
            .unwrap();
        std::fs::create_dir_all(tmp.path().join("plugins")).unwrap();
        // Explicit, so a permissive umask cannot make the plugin directory
        // one the daemon refuses to load from.
        std::fs::set_permissions(
            tmp.path().join("plugins"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::fs::copy(shipped_specs(), tmp.path().join("statsig_specs.json")).unwrap();
        Workdir { tmp }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn plugins(&self) -> PathBuf {
        self.tmp.path().join("plugins")
    }

    pub fn config_path(&self) -> PathBuf {
        self.tmp.path().join("variantd.toml")
    }

    /// Put the example plugins in `plugins/`.
    pub fn with_example_plugins(self) -> Workdir {
        for p in ["app_a", "app_b", "app_c"] {
            deploy(p, &self.plugins(), &format!("lib{p}.so"));
        }
        self
    }

    pub fn write_config(&self, text: &str) {
        write_atomic(&self.config_path(), text);
    }

    pub fn start(self) -> Daemon {
        let mut d = Daemon::spawn(&self.config_path(), &[]).expect("daemon starts");
        d.dir = self.tmp.path().to_path_buf();
        d._tmp = Some(self.tmp);
        d
    }

    /// Run `variantd --config` on this directory's config, expecting it to
    /// refuse to start; its stderr.
    pub fn start_fails(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_variantd"))
            .arg("--config")
            .arg(self.config_path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "variantd started: {err}");
        err
    }

    pub fn start_with_env(self, env: &[(&str, &str)]) -> Daemon {
        let mut d = Daemon::spawn(&self.config_path(), env).expect("daemon starts");
        d.dir = self.tmp.path().to_path_buf();
        d._tmp = Some(self.tmp);
        d
    }
}

/// The shipped example variants and routes, with paths for a [`Workdir`].
pub fn example_config(extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 2
[plugins]
dir = "plugins"
debounce_ms = 50
[statsig]
specs_file = "statsig_specs.json"
exposures_file = "exposures.jsonl"
[[user.attributes]]
header = "X-User-Plan"
field = "plan"

[variants.app_a]
label = "A"
plugin = "app_a"
[variants.app_b]
label = "B"
plugin = "app_b"
[variants.app_c]
label = "C"
plugin = "app_c"

[[routes]]
path = "/process/{{message}}"
methods = ["GET"]
response = "envelope"
gate = "variant_b"
pass = "app_b"
fail = "app_a"

[[routes]]
path = "/analyze"
methods = ["POST"]
gate = "variant_b"
pass = "app_b"
fail = "app_a"

[[routes]]
path = "/experiment/process/{{message}}"
response = "envelope"
strip_prefix = "/experiment"
experiment = "variant_experiment"
map = {{ A = "app_a", B = "app_b", C = "app_c" }}
default = "app_a"
{extra}
"#
    )
}

impl Daemon {
    /// Start `variantd --config <config>` and wait for its listening line.
    pub fn spawn(config: &Path, env: &[(&str, &str)]) -> Result<Daemon, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_variantd"));
        cmd.arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.env_remove("STATSIG_API_KEY")
            .env_remove("VARIANTD_ADMIN_TOKEN")
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log2.lock().unwrap().push_str(&line);
                log2.lock().unwrap().push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let admin: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let admin2 = admin.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("variantd listening on http://") {
                    let _ = tx.send(("http", addr.to_string()));
                }
                if let Some(addr) = line.strip_prefix("variantd listening on https://") {
                    let _ = tx.send(("https", addr.to_string()));
                }
                if let Some(addr) = line.strip_prefix("variantd admin listening on http://") {
                    *admin2.lock().unwrap() = addr.parse().ok();
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((scheme, addr)) => Ok(Daemon {
                child: Some(child),
                addr: addr.parse().unwrap(),
                scheme,
                admin,
                log,
                dir: PathBuf::new(),
                _tmp: None,
            }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                std::thread::sleep(Duration::from_millis(100));
                Err(format!(
                    "daemon did not start (exit {status:?}); log:\n{}",
                    log.lock().unwrap()
                ))
            }
        }
    }

    /// The admin listener's address, when the config asked for one (waits
    /// up to 5 s for the daemon to print it).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        wait_until(Duration::from_secs(5), || {
            self.admin.lock().unwrap().is_some()
        });
        *self.admin.lock().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// The Prometheus text `/metrics` answers with now.
    pub fn metrics(&self) -> String {
        client()
            .get(self.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    pub fn logs(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait until the log contains `needle` (bounded).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.logs().contains(needle))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// SIGTERM and wait (bounded) for exit. Its directory stays until drop.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("daemon did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// A blocking HTTP client with short timeouts (loopback only).
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .no_proxy()
        .build()
        .unwrap()
}

pub fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = client().get(url).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(serde_json::Value::Null))
}
