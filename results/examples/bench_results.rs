//! Benchmark (not a test): 5 million exposure lines and 1 million events for
//! 1 million users, in the full shape statsig-rust writes, then one
//! computation over them on one thread.
//!
//! ```sh
//! CARGO_TARGET_DIR=/tmp/target-results cargo run --release -p variantd-results \
//!     --example bench_results -- [DIR]
//! ```
//!
//! Writes `DIR/exposures.jsonl` (default: a directory under the system temp
//! dir, reused if the file is already there), times the computation alone
//! and prints wall time, lines per second and the process's peak RSS
//! (VmHWM). Pin it to one core with `taskset -c 0` to be sure.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use variantd_results::{render_table, Analysis};

const USERS: u64 = 1_000_000;
const EXPOSURES: u64 = 5_000_000;
const EVENTS: u64 = 1_000_000;
const T0: u64 = 1_767_225_600_000;

/// splitmix64: deterministic and good enough to spread users and times.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// A user's fixed assignment, derived from its index.
fn assignment(user: u64) -> (bool, &'static str) {
    let mut rng = Rng(user ^ 0xA5A5);
    let pass = rng.chance(0.5);
    let rule = match rng.below(1000) {
        0..=333 => "group_a",
        334..=666 => "group_b",
        _ => "group_c",
    };
    (pass, rule)
}

fn generate(path: &Path) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut rng = Rng(42);
    // Exposures and events interleaved, so many events precede their
    // unit's first exposure in file order.
    let events_every = EXPOSURES / EVENTS;
    for i in 0..EXPOSURES {
        let user = rng.below(USERS);
        let (pass, rule) = assignment(user);
        let time = T0 + rng.below(86_400_000);
        if i % 5 < 3 {
            writeln!(
                out,
                r#"{{"eventName":"statsig::gate_exposure","value":null,"metadata":{{"gate":"variant_b","gateValue":"{pass}","ruleID":"rollout50","reason":"Bootstrap:Recognized","lcut":"1767225600000","receivedAt":"1767225600100","configVersion":"1"}},"statsigMetadata":{{"samplingMode":null,"samplingRate":null,"shadowLogged":null}},"user":{{"userID":"user{user}","custom":{{"plan":"free"}},"statsigEnvironment":{{"tier":"production"}}}},"time":{time},"secondaryExposures":[]}}"#
            )?;
        } else {
            writeln!(
                out,
                r#"{{"eventName":"statsig::config_exposure","value":null,"metadata":{{"config":"variant_experiment","ruleID":"{rule}","reason":"Bootstrap:Recognized","lcut":"1767225600000","receivedAt":"1767225600100","configVersion":"1"}},"statsigMetadata":{{"samplingMode":null,"samplingRate":null,"shadowLogged":null}},"user":{{"userID":"user{user}","custom":{{"plan":"free"}},"statsigEnvironment":{{"tier":"production"}}}},"time":{time},"secondaryExposures":[]}}"#
            )?;
        }
        if i % events_every == 0 {
            let user = rng.below(USERS);
            let time = T0 + rng.below(86_400_000);
            let cents = 100 + rng.below(10_000);
            let name = if rng.chance(0.7) { "click" } else { "purchase" };
            writeln!(
                out,
                r#"{{"eventName":"{name}","value":{}.{:02},"metadata":{{"source":"web"}},"statsigMetadata":null,"user":{{"userID":"user{user}","custom":{{"plan":"free"}},"statsigEnvironment":{{"tier":"production"}}}},"time":{time},"secondaryExposures":null}}"#,
                cents / 100,
                cents % 100
            )?;
        }
    }
    out.flush()
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("variantd-results-bench"));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("exposures.jsonl");
    if !path.exists() {
        let start = Instant::now();
        generate(&path)?;
        eprintln!("generated {} in {:.1?}", path.display(), start.elapsed());
    }
    let bytes = std::fs::metadata(&path)?.len();
    let rss_before = peak_rss_kib();

    let specs = include_str!("../tests/data/statsig_specs.json");
    let start = Instant::now();
    let report = Analysis::builder()
        .specs_json(specs)?
        .variants("variant_b", "pass", ["app_b"])
        .variants("variant_b", "fail", ["app_a"])
        .add_paths([path.display().to_string()])?
        .compute()?;
    let elapsed = start.elapsed();

    print!("{}", render_table(&report.decisions));
    let counts = report.input.counts;
    println!();
    println!(
        "input: {} lines ({} exposures, {} events, {} malformed), {:.2} GB",
        counts.lines,
        counts.exposures,
        counts.events,
        counts.malformed_lines,
        bytes as f64 / 1e9
    );
    println!(
        "compute: {:.2} s wall, {:.2} M lines/s, {:.0} MB/s",
        elapsed.as_secs_f64(),
        counts.lines as f64 / elapsed.as_secs_f64() / 1e6,
        bytes as f64 / elapsed.as_secs_f64() / 1e6
    );
    if let (Some(before), Some(after)) = (rss_before, peak_rss_kib()) {
        println!(
            "peak RSS: {:.1} MiB (before computing: {:.1} MiB)",
            after as f64 / 1024.0,
            before as f64 / 1024.0
        );
    }
    Ok(())
}
