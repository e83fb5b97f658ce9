//! Plugin swap benchmark for variantd. Not a test: it prints numbers and
//! fails only if the daemon cannot be driven at all, never on a timing.
//!
//! 1. Starts a real (release) `variantd` on 127.0.0.1:0 with the `swapper`
//!    fixture (`libfixture_swap_one.so` / `libfixture_swap_two.so`).
//! 2. Latency: `--swaps` swaps (default 100) alternating the two builds, each
//!    a copy to a temporary name plus a rename into place (as a deploy does),
//!    while `--load-threads` clients call the plugin. Swap-to-serve latency is
//!    the time from the rename to the first answer carrying the new
//!    generation. Prints p50/p90/p99/max and the load's failures.
//! 3. Memory: `--memory-swaps` more swaps (default 1,000), then VmRSS from
//!    /proc/<pid>/status before/after and the retained library count from
//!    /admin/plugins.
//!
//! See bench/README.md, section "Plugin swap".

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

struct Args {
    variantd: PathBuf,
    plugin_dir: PathBuf,
    specs: PathBuf,
    swaps: usize,
    memory_swaps: usize,
    load_threads: usize,
    debounce_ms: u64,
    max_retained: usize,
}

fn parse_args() -> Args {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let release = root.join("target/release");
    let mut a = Args {
        variantd: release.join("variantd"),
        plugin_dir: release.clone(),
        specs: root.join("config/statsig_specs.json"),
        swaps: 100,
        memory_swaps: 1000,
        load_threads: 2,
        debounce_ms: 50,
        max_retained: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--variantd" => a.variantd = value().into(),
            "--plugin-dir" => a.plugin_dir = value().into(),
            "--specs" => a.specs = value().into(),
            "--swaps" => {
                a.swaps = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--swaps: a number"))
            }
            "--memory-swaps" => {
                a.memory_swaps = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--memory-swaps: a number"))
            }
            "--load-threads" => {
                a.load_threads = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--load-threads: a number"))
            }
            "--debounce-ms" => {
                a.debounce_ms = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--debounce-ms: a number"))
            }
            "--max-retained" => {
                a.max_retained = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--max-retained: a number"))
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    a
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("bench-swap: {problem}");
    }
    eprintln!(
        "usage: bench-swap [--variantd PATH] [--plugin-dir DIR] [--specs FILE] [--swaps N] [--memory-swaps N]\n\
         \x20                 [--load-threads N] [--debounce-ms MS] [--max-retained N]\n\
         defaults: target/release/variantd, target/release/libfixture_swap_{{one,two}}.so, 100 swaps,\n\
         1000 memory swaps, 2 load threads, debounce 50 ms, max_retained_libraries 64"
    );
    std::process::exit(2)
}

struct Daemon {
    child: Child,
    base: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &Args, work: &Path) -> Daemon {
    let config = format!(
        r#"[server]
listen = "127.0.0.1:0"
workers = 2
[plugins]
dir = "plugins"
debounce_ms = {debounce}
max_retained_libraries = {max_retained}
[statsig]
specs_file = "statsig_specs.json"
exposures_file = "exposures.jsonl"

[variants.swap]
label = "S"
plugin = "swapper"

[[routes]]
path = "/swap/{{*rest}}"
variant = "swap"
"#,
        debounce = args.debounce_ms,
        max_retained = args.max_retained
    );
    std::fs::write(work.join("variantd.toml"), config).expect("write config");
    let mut child = Command::new(&args.variantd)
        .arg("--config")
        .arg(work.join("variantd.toml"))
        .env_remove("STATSIG_API_KEY")
        .env_remove("VARIANTD_ADMIN_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "start {}: {e} (build it: see bench/README.md)",
                args.variantd.display()
            )
        });
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("variantd listening on ") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("variantd printed its listening address");
    Daemon { child, base }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// The generation of one answer, checking it came wholly from one version.
fn generation(c: &reqwest::blocking::Client, url: &str) -> Result<u64, String> {
    let r = c.get(url).send().map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let header = r
        .headers()
        .get("x-generation")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body: Value = r.json().map_err(|e| format!("status {status}: {e}"))?;
    let g = body["generation"]
        .as_u64()
        .ok_or_else(|| format!("status {status}: {body}"))?;
    let digit = char::from_digit(g as u32, 10).unwrap_or('?');
    let whole = body["payload"]
        .as_str()
        .is_some_and(|p| p.len() == 4096 && p.chars().all(|c| c == digit));
    if header != Some(g) || !whole {
        return Err(format!(
            "mixed answer: header {header:?}, body generation {g}"
        ));
    }
    Ok(g)
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mapped_swapper_copies(pid: u32) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    // Copies are memfds that all share one name: count distinct inodes.
    let mut inodes: Vec<&str> = maps
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 5 && f[5].contains("libswapper.so"))
        .map(|f| f[4])
        .collect();
    inodes.sort();
    inodes.dedup();
    inodes.len()
}

fn admin(c: &reqwest::blocking::Client, base: &str) -> Value {
    c.get(format!("{base}/admin/plugins"))
        .send()
        .and_then(|r| r.json())
        .unwrap_or(Value::Null)
}

struct Swapper {
    plugin_dir: PathBuf,
    builds: [PathBuf; 2],
    next: u64,
}

impl Swapper {
    /// Deploy the other build; returns (its generation, rename instant).
    fn swap(&mut self) -> (u64, Instant) {
        self.next = if self.next == 1 { 2 } else { 1 };
        let tmp = self.plugin_dir.join(".libswapper.so.tmp");
        std::fs::copy(&self.builds[self.next as usize - 1], &tmp).expect("copy build");
        let at = Instant::now();
        std::fs::rename(&tmp, self.plugin_dir.join("libswapper.so")).expect("rename into place");
        (self.next, at)
    }
}

/// Swap and wait for the new generation; `None` if it is not served within 5 s.
fn swap_and_wait(s: &mut Swapper, c: &reqwest::blocking::Client, url: &str) -> Option<Duration> {
    let (target, at) = s.swap();
    let deadline = at + Duration::from_secs(5);
    while Instant::now() < deadline {
        if generation(c, url) == Ok(target) {
            return Some(at.elapsed());
        }
    }
    None
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args = parse_args();
    let builds = [
        args.plugin_dir.join("libfixture_swap_one.so"),
        args.plugin_dir.join("libfixture_swap_two.so"),
    ];
    for b in builds.iter().chain([&args.variantd]) {
        if !b.exists() {
            usage(&format!(
                "{} not found; build first (see bench/README.md)",
                b.display()
            ));
        }
    }
    let work = tempfile::Builder::new()
        .prefix("variantd-bench-swap-")
        .tempdir()
        .expect("tempdir");
    let plugin_dir = work.path().join("plugins");
    std::fs::create_dir_all(&plugin_dir).expect("plugins dir");
    std::fs::copy(&args.specs, work.path().join("statsig_specs.json")).expect("copy specs");
    std::fs::copy(&builds[0], plugin_dir.join("libswapper.so")).expect("deploy generation 1");

    let daemon = start(&args, work.path());
    let pid = daemon.child.id();
    let base = daemon.base.clone();
    let url = format!("{base}/swap/x");
    let c = client();
    assert_eq!(generation(&c, &url), Ok(1), "generation 1 serves at start");
    let mut s = Swapper {
        plugin_dir,
        builds,
        next: 1,
    };
    println!(
        "variantd {} (pid {pid}) at {base}; debounce {} ms; {} load threads",
        args.variantd.display(),
        args.debounce_ms,
        args.load_threads
    );

    // Phase 1: latency under load.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load: Vec<_> = (0..args.load_threads)
        .map(|_| {
            let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
            std::thread::spawn(move || {
                let c = client();
                while !stop.load(Ordering::Relaxed) {
                    match generation(&c, &url) {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(args.swaps);
    let mut missed = 0;
    for _ in 0..args.swaps {
        match swap_and_wait(&mut s, &c, &url) {
            Some(d) => latencies.push(d),
            None => missed += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        let _ = t.join();
    }
    let elapsed = started.elapsed();
    latencies.sort();
    if latencies.is_empty() {
        eprintln!(
            "bench-swap: no swap was served; admin says: {}",
            admin(&c, &base)
        );
        std::process::exit(1);
    }
    println!(
        "\n## swap-to-serve latency ({} swaps in {:.1} s, {} not served within 5 s)",
        latencies.len(),
        elapsed.as_secs_f64(),
        missed
    );
    println!(
        "p50 {}  p90 {}  p99 {}  max {}  min {}",
        ms(pct(&latencies, 0.5)),
        ms(pct(&latencies, 0.9)),
        ms(pct(&latencies, 0.99)),
        ms(latencies[latencies.len() - 1]),
        ms(latencies[0])
    );
    println!(
        "load during the swaps: {} answers, {} failed or mixed",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );

    // Phase 2: memory over many swaps.
    let a = admin(&c, &base);
    let (rss_before, maps_before) = (vm_rss_kib(pid), mapped_swapper_copies(pid));
    let retained_before = a["retained"].as_array().map_or(0, Vec::len);
    let started = Instant::now();
    let mut missed = 0;
    for i in 0..args.memory_swaps {
        if swap_and_wait(&mut s, &c, &url).is_none() {
            missed += 1;
            if missed == 1 {
                eprintln!(
                    "swap {i} not served within 5 s; refused: {}",
                    admin(&c, &base)["refused"]
                );
            }
        }
    }
    let elapsed = started.elapsed();
    let a = admin(&c, &base);
    let (rss_after, maps_after) = (vm_rss_kib(pid), mapped_swapper_copies(pid));
    println!(
        "\n## memory over {} more swaps ({:.1} s, {} not served within 5 s)",
        args.memory_swaps,
        elapsed.as_secs_f64(),
        missed
    );
    println!(
        "VmRSS before {} KiB, after {} KiB ({:+} KiB)",
        rss_before,
        rss_after,
        rss_after as i64 - rss_before as i64
    );
    println!(
        "retained libraries (closed, still mapped): before {}, after {} (limit {}); open {}; released {}",
        retained_before,
        a["retained"].as_array().map_or(0, Vec::len),
        a["max_retained_libraries"],
        a["libraries_open"],
        a["libraries_released"]
    );
    println!(
        "distinct swapper copies in /proc/{pid}/maps: before {maps_before}, after {maps_after}"
    );
    println!(
        "refused files: {}",
        a["refused"].as_array().map_or(0, Vec::len)
    );
    drop(daemon);
}
