//! Issue 4: hot reload of plugins, config and specs with no request lost.
//!
//! Every test runs a real daemon on 127.0.0.1:0 with real .so files and real
//! HTTP. Waits are bounded polls (`wait_until`), never sleeps standing in for
//! synchronisation. The swap fixtures (`fixture_swap_one` / `fixture_swap_two`)
//! both declare plugin `swapper` and answer `x-generation: N` with
//! `{"generation":N,"payload":"NNNN…"}`, so a mixed answer would show.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const SWAP_VARIANT: &str = "\n[variants.swap]\nlabel = \"S\"\nplugin = \"swapper\"\n";
const PAYLOAD_LEN: usize = 4096;

fn fixture(generation: u32) -> &'static str {
    match generation {
        1 => "fixture_swap_one",
        2 => "fixture_swap_two",
        _ => unreachable!(),
    }
}

/// A workdir with the example plugins and `swapper` generation 1 as `libswapper.so`.
fn swap_workdir(extra: &str) -> Workdir {
    let work = Workdir::new().with_example_plugins();
    deploy("fixture_swap_one", &work.plugins(), "libswapper.so");
    work.write_config(&example_config(&format!("{SWAP_VARIANT}{extra}")));
    work
}

/// A daemon on a [`swap_workdir`]; its plugin directory and the URL of the
/// `swap` variant.
fn start_swapper() -> (Daemon, PathBuf, String) {
    let work = swap_workdir("");
    let plugins = work.plugins();
    let d = work.start();
    let url = d.url("/variants/swap/x");
    (d, plugins, url)
}

/// Copy the build of `generation` next to `libswapper.so` under a temporary
/// name, rename it into place and return the instant of the rename.
fn swap_to(generation: u32, plugins: &Path) -> Instant {
    let tmp = plugins.join(".libswapper.so.tmp");
    std::fs::copy(artifact(fixture(generation)), &tmp).unwrap();
    let at = Instant::now();
    std::fs::rename(&tmp, plugins.join("libswapper.so")).unwrap();
    at
}

/// Check that an answer came wholly from one version; return its generation.
fn whole_generation(resp: reqwest::blocking::Response) -> Result<u64, String> {
    let status = resp.status().as_u16();
    let header = resp
        .headers()
        .get("x-generation")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.bytes().map_err(|e| format!("reading body: {e}"))?;
    if status != 200 {
        return Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(&body)))?;
    let generation = json["generation"]
        .as_u64()
        .ok_or_else(|| format!("no generation: {json}"))?;
    let digit = char::from_digit(generation as u32, 10).ok_or("generation is not one digit")?;
    let payload = json["payload"].as_str().unwrap_or_default();
    if payload.len() != PAYLOAD_LEN || payload.chars().any(|c| c != digit) {
        return Err(format!(
            "payload does not belong wholly to generation {generation}"
        ));
    }
    if header.as_deref() != Some(generation.to_string().as_str()) {
        return Err(format!(
            "header x-generation {header:?} but body generation {generation}"
        ));
    }
    Ok(generation)
}

fn generation_of(client: &reqwest::blocking::Client, url: &str) -> Result<u64, String> {
    let resp = client
        .get(url)
        .send()
        .map_err(|e| format!("request failed: {e}"))?;
    whole_generation(resp)
}

/// Client threads calling `url` until stopped; every answer is checked.
/// One load runs at a time in this binary, so the swap latency a test measures
/// is its daemon's and not a second load's fighting it for the same two cores.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    per_generation: Arc<[AtomicU64; 3]>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static ONE_LOAD_AT_A_TIME: Mutex<()> = Mutex::new(());

impl Load {
    fn start(url: String, threads: usize) -> Load {
        // A test that failed while holding it poisons it; the next may still run.
        let one_at_a_time = ONE_LOAD_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let per_generation: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..threads)
            .map(|_| {
                let (url, stop, ok, per_generation, failures) = (
                    url.clone(),
                    stop.clone(),
                    ok.clone(),
                    per_generation.clone(),
                    failures.clone(),
                );
                std::thread::spawn(move || {
                    let client = client();
                    while !stop.load(Ordering::Relaxed) {
                        match generation_of(&client, &url) {
                            Ok(g) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                per_generation[g as usize % 3].fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => failures.lock().unwrap().push(e),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            per_generation,
            failures,
            threads,
            _one_at_a_time: one_at_a_time,
        }
    }

    /// Stop and return (answers, answers per generation 1 and 2, failures).
    fn finish(mut self) -> (u64, [u64; 2], Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in std::mem::take(&mut self.threads) {
            t.join().unwrap();
        }
        let per = [
            self.per_generation[1].load(Ordering::Relaxed),
            self.per_generation[2].load(Ordering::Relaxed),
        ];
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), per, failures)
    }
}

impl Drop for Load {
    /// A test that fails mid-load stops its clients before the next load starts.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }
}

fn admin_plugins(d: &Daemon) -> Value {
    let (status, body) = get_json(&d.url("/admin/plugins"));
    assert_eq!(status, 200, "{body}");
    body
}

fn plugin_entry(admin: &Value, name: &str) -> Option<Value> {
    admin["plugins"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
}

fn refusal_for(admin: &Value, file_name: &str) -> Option<String> {
    admin["refused"]
        .as_array()?
        .iter()
        .find(|r| {
            r["file"]
                .as_str()
                .is_some_and(|f| f.ends_with(&format!("/{file_name}")))
        })
        .and_then(|r| r["reason"].as_str().map(str::to_string))
}

/// The variant that answered a routed request.
fn answered_by(client: &reqwest::blocking::Client, url: &str) -> String {
    let r = client.get(url).send().unwrap();
    assert_eq!(r.status().as_u16(), 200, "{url}");
    r.headers()
        .get("x-variantd-variant")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[test]
fn fifty_swaps_under_load_lose_nothing_and_serve_within_500ms() {
    let (d, plugins, url) = start_swapper();
    let probe = client();
    assert_eq!(generation_of(&probe, &url), Ok(1));

    let load = Load::start(url.clone(), 4);
    let mut latencies = Vec::new();
    for i in 0..50 {
        let target = if i % 2 == 0 { 2 } else { 1 };
        let renamed = swap_to(target, &plugins);
        let served = wait_until(Duration::from_secs(5), || {
            generation_of(&probe, &url) == Ok(target as u64)
        });
        assert!(
            served,
            "swap {i}: generation {target} not served within 5 s; log:\n{}",
            d.logs()
        );
        latencies.push(renamed.elapsed());
    }
    let (answers, per_generation, failures) = load.finish();

    latencies.sort();
    let (p50, p99, max) = (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
    );
    println!(
        "50 swaps: rename → first answer from the new version p50 {p50:?}, p99 {p99:?}, max {max:?}; \
         {answers} answers under load (gen 1: {}, gen 2: {}), {} failed",
        per_generation[0],
        per_generation[1],
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failed requests, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        per_generation[0] > 0 && per_generation[1] > 0,
        "load saw both versions: {per_generation:?}"
    );
    assert!(
        max < Duration::from_millis(500),
        "every swap served within 500 ms of the rename; slowest {max:?}"
    );

    // 50 swaps ended on generation 1; admin agrees and accounts for old copies.
    let admin = admin_plugins(&d);
    let swapper = plugin_entry(&admin, "swapper").expect("swapper listed");
    assert_eq!(swapper["version"], "1.0.0", "{swapper}");
    assert!(
        swapper["sha256"].as_str().is_some_and(|s| s.len() == 64),
        "{swapper}"
    );
    assert!(
        swapper.get("retained_old_versions").is_some(),
        "per-plugin retained old versions: {swapper}"
    );
    let retained = admin["retained"].as_array().unwrap().len();
    assert!(
        retained <= admin["max_retained_libraries"].as_u64().unwrap() as usize,
        "{admin}"
    );
    assert!(admin["refused"].as_array().unwrap().is_empty(), "{admin}");
    println!(
        "after 50 swaps: libraries open {}, released {}, retained {retained}",
        admin["libraries_open"], admin["libraries_released"]
    );
}

#[test]
fn garbage_and_truncated_plugins_are_refused_mid_load_and_change_nothing() {
    let (d, plugins, url) = start_swapper();
    let load = Load::start(url.clone(), 2);

    // Garbage under a new name, a build cut inside its code segment (glibc
    // would map it and die of SIGBUS at the first touch past the end), and a
    // build of generation 2 cut after its segments renamed over the serving file.
    write_atomic(
        &plugins.join("libgarbage.so"),
        "\x7fELF but not really a library",
    );
    let bytes = std::fs::read(artifact("fixture_swap_two")).unwrap();
    let tmp = plugins.join(".libtruncated.so.tmp");
    std::fs::write(&tmp, &bytes[..300 * 1024]).unwrap();
    std::fs::rename(&tmp, plugins.join("libtruncated.so")).unwrap();
    let tmp = plugins.join(".libswapper.so.tmp");
    std::fs::write(&tmp, &bytes[..bytes.len() / 3]).unwrap();
    std::fs::rename(&tmp, plugins.join("libswapper.so")).unwrap();

    let refused = wait_until(Duration::from_secs(5), || {
        let admin = admin_plugins(&d);
        ["libgarbage.so", "libtruncated.so", "libswapper.so"]
            .iter()
            .all(|f| refusal_for(&admin, f).is_some())
    });
    let admin = admin_plugins(&d);
    assert!(refused, "both files refused: {admin}");
    println!("garbage: {}", refusal_for(&admin, "libgarbage.so").unwrap());
    println!(
        "cut in a segment: {}",
        refusal_for(&admin, "libtruncated.so").unwrap()
    );
    println!(
        "cut after the segments: {}",
        refusal_for(&admin, "libswapper.so").unwrap()
    );
    assert!(refusal_for(&admin, "libtruncated.so")
        .unwrap()
        .contains("truncated"));
    assert_eq!(
        plugin_entry(&admin, "swapper").unwrap()["version"],
        "1.0.0",
        "the working version stays: {admin}"
    );
    // A few more answers after the refusal, all still generation 1.
    let probe = client();
    for _ in 0..20 {
        assert_eq!(generation_of(&probe, &url), Ok(1));
    }
    let (answers, per_generation, failures) = load.finish();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(per_generation[1], 0, "nothing of the refused file served");
    assert!(answers > 0);
    let (status, ready) = get_json(&d.url("/readyz"));
    assert_eq!(
        status, 200,
        "a refused file does not make the daemon unready: {ready}"
    );

    // A good build renamed over the truncated one is accepted.
    swap_to(2, &plugins);
    assert!(wait_until(Duration::from_secs(5), || generation_of(
        &probe, &url
    ) == Ok(2)));
    assert!(
        refusal_for(&admin_plugins(&d), "libswapper.so").is_none(),
        "refusal cleared once a good file replaced it"
    );
}

#[test]
fn config_edit_adds_a_variant_and_remaps_the_gate_live() {
    let work = Workdir::new().with_example_plugins();
    deploy("fixture_swap_one", &work.plugins(), "libswapper.so");
    let route = |pass: &str, fail: &str| {
        format!("\n[[routes]]\npath = \"/gated/process/{{m}}\"\nstrip_prefix = \"/gated\"\ngate = \"variant_b\"\npass = \"{pass}\"\nfail = \"{fail}\"\n")
    };
    work.write_config(&example_config(&route("app_a", "app_a")));
    let config_path = work.config_path();
    let d = work.start();
    let c = client();
    let (status, body) = get_json(&d.url("/variants/swap/x"));
    assert_eq!(status, 404, "not configured yet: {body}");
    let users: Vec<String> = (0..10)
        .map(|i| format!("/gated/process/hi?user_key=user-{i}"))
        .collect();
    for u in &users {
        assert_eq!(answered_by(&c, &d.url(u)), "app_a");
    }
    let before = get_json(&d.url("/readyz")).1["generation"]
        .as_u64()
        .unwrap();

    // One edit: a new variant, and the gate's both sides remapped to it and to app_c.
    write_atomic(
        &config_path,
        &example_config(&format!("{SWAP_VARIANT}{}", route("swap", "app_c"))),
    );
    assert!(
        wait_until(Duration::from_secs(5), || generation_of(
            &c,
            &d.url("/variants/swap/x")
        ) == Ok(1)),
        "new variant served without restart; log:\n{}",
        d.logs()
    );
    let mut seen = std::collections::BTreeSet::new();
    for u in &users {
        seen.insert(answered_by(&c, &d.url(u)));
    }
    assert!(
        seen.iter().all(|v| v == "swap" || v == "app_c"),
        "gate remapped: {seen:?}"
    );
    assert!(
        seen.contains("app_c"),
        "users failing the gate now get app_c: {seen:?}"
    );
    let after = get_json(&d.url("/readyz")).1["generation"]
        .as_u64()
        .unwrap();
    assert!(after > before);
    assert!(d.logs().contains("config reloaded"));
}

#[test]
fn invalid_config_edit_is_refused_reported_and_the_old_one_keeps_serving() {
    let work = swap_workdir("");
    let config_path = work.config_path();
    let good = std::fs::read_to_string(&config_path).unwrap();
    let d = work.start();
    let c = client();
    let url = d.url("/variants/swap/x");

    // Valid TOML, invalid config: a route naming a variant that does not exist.
    write_atomic(
        &config_path,
        &format!("{good}\n[[routes]]\npath = \"/nope\"\nvariant = \"no_such_variant\"\n"),
    );
    assert!(
        wait_until(Duration::from_secs(5), || !admin_plugins(&d)
            ["last_config_error"]
            .is_null()),
        "refusal reported; log:\n{}",
        d.logs()
    );
    let error = admin_plugins(&d)["last_config_error"].clone();
    println!("refused config: {error}");
    assert!(
        error["reason"]
            .as_str()
            .unwrap()
            .contains("no_such_variant"),
        "reason names the problem: {error}"
    );
    assert!(
        d.wait_for_log("config refused", Duration::from_secs(2)),
        "logged"
    );
    let (status, ready) = get_json(&d.url("/readyz"));
    assert_eq!(status, 200, "{ready}");
    assert!(
        ready["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("config reload refused")),
        "readyz warns: {ready}"
    );
    assert_eq!(generation_of(&c, &url), Ok(1), "old config keeps serving");
    assert!(
        !answered_by(&c, &d.url("/process/hi?user_key=u1")).is_empty(),
        "routes keep serving"
    );

    // Not even TOML.
    write_atomic(&config_path, "[server\nlisten = ");
    assert!(wait_until(Duration::from_secs(5), || {
        admin_plugins(&d)["last_config_error"]["reason"]
            .as_str()
            .is_some_and(|r| !r.contains("no_such_variant"))
    }));
    assert_eq!(generation_of(&c, &url), Ok(1));

    // Fixed: accepted, the error clears.
    write_atomic(&config_path, &format!("{good}\n# fixed\n"));
    assert!(wait_until(Duration::from_secs(5), || admin_plugins(&d)
        ["last_config_error"]
        .is_null()));
    assert_eq!(generation_of(&c, &url), Ok(1));
}

/// The shipped specs with `variant_b`'s rollout set to `percent` and `time` bumped.
fn specs_with_rollout(specs: &Path, percent: u64) -> String {
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(specs).unwrap()).unwrap();
    let rules = json["feature_gates"]["variant_b"]["rules"]
        .as_array_mut()
        .unwrap();
    let rollout = rules.iter_mut().find(|r| r["name"] == "rollout50").unwrap();
    rollout["passPercentage"] = percent.into();
    let time = json["time"].as_u64().unwrap();
    json["time"] = (time + 1000).into();
    serde_json::to_string_pretty(&json).unwrap()
}

fn gate_users(d: &Daemon, c: &reqwest::blocking::Client) -> Vec<String> {
    (0..20)
        .map(|i| answered_by(c, &d.url(&format!("/process/hi?user_key=rollout-user-{i}"))))
        .collect()
}

#[test]
fn specs_edit_changing_the_rollout_applies_live() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let specs = work.path().join("statsig_specs.json");
    let d = work.start();
    let c = client();
    let before = gate_users(&d, &c);
    assert!(
        before.iter().any(|v| v == "app_a") && before.iter().any(|v| v == "app_b"),
        "50% rollout: {before:?}"
    );

    write_atomic(&specs, &specs_with_rollout(&specs, 100));
    assert!(
        wait_until(Duration::from_secs(5), || gate_users(&d, &c)
            .iter()
            .all(|v| v == "app_b")),
        "100% rollout applied live; log:\n{}",
        d.logs()
    );
    assert!(admin_plugins(&d)["last_specs_error"].is_null());

    // Broken specs are refused; the 100% rollout keeps deciding.
    write_atomic(&specs, "{ not json");
    assert!(wait_until(Duration::from_secs(5), || !admin_plugins(&d)
        ["last_specs_error"]
        .is_null()));
    assert!(gate_users(&d, &c).iter().all(|v| v == "app_b"));
}

#[test]
fn sighup_reloads_config_plugins_and_specs() {
    let work = Workdir::new().with_example_plugins();
    deploy("fixture_swap_one", &work.plugins(), "libswapper.so");
    let unwatched = |extra: &str| {
        example_config(extra).replace("debounce_ms = 50", "debounce_ms = 50\nwatch = false")
    };
    work.write_config(&unwatched(SWAP_VARIANT));
    let (config_path, plugins, specs) = (
        work.config_path(),
        work.plugins(),
        work.path().join("statsig_specs.json"),
    );
    let d = work.start();
    let c = client();
    let url = d.url("/variants/swap/x");
    assert_eq!(generation_of(&c, &url), Ok(1));

    // All three change on disk; with watching off nothing moves.
    swap_to(2, &plugins);
    write_atomic(
        &config_path,
        &unwatched(&format!(
            "{SWAP_VARIANT}\n[variants.swap_too]\nplugin = \"swapper\"\n"
        )),
    );
    write_atomic(&specs, &specs_with_rollout(&specs, 100));
    let observe = Instant::now();
    while observe.elapsed() < Duration::from_millis(300) {
        assert_eq!(
            generation_of(&c, &url),
            Ok(1),
            "watch = false: no reload before SIGHUP"
        );
    }

    d.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(5), || generation_of(&c, &url) == Ok(2)),
        "plugin reloaded by SIGHUP"
    );
    assert!(
        wait_until(Duration::from_secs(5), || generation_of(
            &c,
            &d.url("/variants/swap_too/x")
        ) == Ok(2)),
        "config reloaded"
    );
    assert!(
        gate_users(&d, &c).iter().all(|v| v == "app_b"),
        "specs reloaded"
    );
    assert!(d.logs().contains("SIGHUP"));
}

/// The watcher and the directory scan agree on which files are plugins: one
/// named by `[plugins] include` rather than the default `*.so` is loaded on
/// its file event, with no SIGHUP.
#[test]
fn a_plugin_the_include_globs_name_loads_on_its_file_event() {
    let work = Workdir::new();
    work.write_config(&example_config(SWAP_VARIANT).replace(
        "debounce_ms = 50",
        "debounce_ms = 50\ninclude = [\"*.plugin\"]",
    ));
    let plugins = work.plugins();
    let d = work.start();
    let c = client();
    let url = d.url("/variants/swap/x");
    assert_eq!(
        c.get(&url).send().unwrap().status().as_u16(),
        503,
        "nothing serves `swap` before the file is there"
    );

    // Written under a temporary name and renamed in, as a deploy does.
    deploy("fixture_swap_one", &plugins, "libswapper.plugin");
    assert!(
        wait_until(Duration::from_secs(5), || generation_of(&c, &url) == Ok(1)),
        "libswapper.plugin loaded on its file event; log:\n{}",
        d.logs()
    );
    assert!(!d.logs().contains("SIGHUP"));
}

#[test]
fn a_plugin_overwritten_in_place_is_reloaded_and_the_others_are_not() {
    let (d, plugins, url) = start_swapper();
    let c = client();
    assert_eq!(generation_of(&c, &url), Ok(1));
    let loads_before = d.logs().matches("plugin loaded").count();

    // Same path, same inode: only the size and times say it changed.
    let generation_two = std::fs::read(artifact(fixture(2))).unwrap();
    std::fs::write(plugins.join("libswapper.so"), generation_two).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || generation_of(&c, &url) == Ok(2)),
        "in-place overwrite picked up; log:\n{}",
        d.logs()
    );
    let logs = d.logs();
    let loaded: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("plugin loaded"))
        .skip(loads_before)
        .collect();
    assert!(
        !loaded.is_empty() && loaded.iter().all(|l| l.contains("/libswapper.so")),
        "only the changed file was loaded again: {loaded:?}"
    );
}

#[test]
fn removed_plugin_answers_503_naming_the_variant_until_it_returns() {
    let work = swap_workdir("\n[variants.swap_fb]\nplugin = \"swapper\"\nfallback = \"app_a\"\n");
    let plugins = work.plugins();
    let d = work.start();
    let c = client();
    let url = d.url("/variants/swap/x");
    assert_eq!(generation_of(&c, &url), Ok(1));

    std::fs::remove_file(plugins.join("libswapper.so")).unwrap();
    assert!(wait_until(Duration::from_secs(5), || c
        .get(&url)
        .send()
        .unwrap()
        .status()
        .as_u16()
        == 503));
    let r = c.get(&url).send().unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("json"));
    let body: Value = r.json().unwrap();
    assert_eq!(body["variant"], "swap", "{body}");
    assert!(body["error"].as_str().unwrap().contains("swap"), "{body}");
    // The variant with a fallback answers with it.
    let r = c.get(d.url("/variants/swap_fb/process/x")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-variantd-fallback-from"], "swap_fb");
    assert_eq!(r.headers()["x-variantd-variant"], "app_a");
    assert!(plugin_entry(&admin_plugins(&d), "swapper").is_none());

    deploy("fixture_swap_two", &plugins, "libswapper.so");
    assert!(
        wait_until(Duration::from_secs(5), || generation_of(&c, &url) == Ok(2)),
        "back when the file returns"
    );
    assert_eq!(generation_of(&c, &d.url("/variants/swap_fb/x")), Ok(2));
}

#[test]
fn a_slow_request_started_on_v1_finishes_on_v1_after_the_swap() {
    // The slow variant is `blocking`: called on the blocking pool, so it does
    // not hold one of the two workers while it sleeps.
    let work = swap_workdir("\n[variants.swap_slow]\nplugin = \"swapper\"\nblocking = true\n");
    let plugins = work.plugins();
    let d = work.start();
    let c = client();
    let url = d.url("/variants/swap/x");
    let slow_url = d.url("/variants/swap_slow/x?sleep_ms=2000");
    let slow = std::thread::spawn(move || generation_of(&client(), &slow_url));
    assert!(
        wait_until(Duration::from_secs(5), || plugin_entry(
            &admin_plugins(&d),
            "swapper"
        )
        .is_some_and(|p| p["in_flight"] == 1)),
        "slow request is inside v1"
    );
    swap_to(2, &plugins);
    assert!(wait_until(Duration::from_secs(5), || generation_of(
        &c, &url
    ) == Ok(2)));
    // While v1 drains, admin shows it as an old version of `swapper`.
    let admin = admin_plugins(&d);
    let swapper = plugin_entry(&admin, "swapper").unwrap();
    assert_eq!(swapper["version"], "2.0.0");
    let old: Vec<Value> = swapper["retained_old_versions"].as_array().unwrap().clone();
    assert!(
        old.iter().any(|o| o["version"] == "1.0.0"),
        "v1 listed while its request runs: {swapper}"
    );
    assert_eq!(
        slow.join().unwrap(),
        Ok(1),
        "the slow request finished wholly on v1"
    );
}

#[test]
fn admin_needs_the_bearer_token_when_one_is_set() {
    let work = swap_workdir("");
    let d = work.start_with_env(&[("VARIANTD_ADMIN_TOKEN", "t0ken-for-tests")]);
    let c = client();
    for (method, path) in [
        ("GET", "/admin/plugins"),
        ("POST", "/admin/reload"),
        ("GET", "/admin/config"),
    ] {
        let req = |token: Option<&str>| {
            let b = c.request(method.parse().unwrap(), d.url(path));
            match token {
                Some(t) => b.bearer_auth(t),
                None => b,
            }
            .send()
            .unwrap()
        };
        assert_eq!(
            req(None).status().as_u16(),
            401,
            "{method} {path} without a token"
        );
        // Wrong, a prefix, longer, and the same length with one byte changed.
        for wrong in ["wrong", "t0ken", "t0ken-for-tests2", "t0ken-for-testz"] {
            assert_eq!(
                req(Some(wrong)).status().as_u16(),
                401,
                "{method} {path} with the wrong token {wrong:?}"
            );
        }
        let ok = req(Some("t0ken-for-tests"));
        assert_eq!(ok.status().as_u16(), 200, "{method} {path} with the token");
        let text = ok.text().unwrap();
        assert!(
            !text.contains("t0ken-for-tests"),
            "the token never shows: {text}"
        );
    }
    // Serving is not affected by the token.
    assert_eq!(generation_of(&c, &d.url("/variants/swap/x")), Ok(1));
}

#[cfg(unix)]
#[test]
fn configmap_style_data_symlink_swap_of_the_config_is_picked_up() {
    use std::os::unix::fs::symlink;
    let work = Workdir::new().with_example_plugins();
    deploy("fixture_swap_one", &work.plugins(), "libswapper.so");
    // Kubernetes layout: cm/variantd.toml → ..data/variantd.toml, ..data → ..<timestamp>.
    let cm = work.path().join("cm");
    let absolute = |text: String| {
        text.replace("dir = \"plugins\"", &format!("dir = {:?}", work.plugins()))
            .replace(
                "specs_file = \"statsig_specs.json\"",
                &format!("specs_file = {:?}", work.path().join("statsig_specs.json")),
            )
            .replace(
                "exposures_file = \"exposures.jsonl\"",
                &format!("exposures_file = {:?}", work.path().join("exposures.jsonl")),
            )
    };
    let version = |name: &str, text: String| {
        std::fs::create_dir_all(cm.join(name)).unwrap();
        std::fs::write(cm.join(name).join("variantd.toml"), text).unwrap();
    };
    version("..2026_01_01_00_00_00.1", absolute(example_config("")));
    symlink("..2026_01_01_00_00_00.1", cm.join("..data")).unwrap();
    symlink("..data/variantd.toml", cm.join("variantd.toml")).unwrap();
    let d = Daemon::spawn(&cm.join("variantd.toml"), &[]).expect("daemon starts");
    let c = client();
    assert_eq!(
        c.get(d.url("/variants/swap/x"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    // The kubelet's swap: a new timestamped dir, a `..data_tmp` link, renamed over `..data`.
    version(
        "..2026_01_01_00_01_00.2",
        absolute(example_config(SWAP_VARIANT)),
    );
    symlink("..2026_01_01_00_01_00.2", cm.join("..data_tmp")).unwrap();
    std::fs::rename(cm.join("..data_tmp"), cm.join("..data")).unwrap();
    std::fs::remove_dir_all(cm.join("..2026_01_01_00_00_00.1")).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || generation_of(
            &c,
            &d.url("/variants/swap/x")
        ) == Ok(1)),
        "config from the new ..data served; log:\n{}",
        d.logs()
    );
}

#[test]
fn readiness_admin_and_requests_answer_while_a_slow_reload_runs() {
    let echo = "[variants.e]\nplugin = \"echo\"\n";
    let work = Workdir::new().with_example_plugins();
    deploy("fixture_echo", &work.plugins(), "libecho.so");
    work.write_config(&example_config(echo));
    let config_path = work.config_path();
    let d = work.start();

    // A new variant whose `init` takes 3 s: the reload is busy that long.
    write_atomic(
        &config_path,
        &example_config(&format!(
            "{echo}[variants.slow]\nplugin = \"echo\"\nconfig = {{ init_sleep_ms = 3000 }}\n"
        )),
    );
    assert!(
        d.wait_for_log("echo init sleeping", Duration::from_secs(5)),
        "slow init started; log:\n{}",
        d.logs()
    );
    let c = client();
    let started = Instant::now();
    for path in [
        "/readyz",
        "/admin/plugins",
        "/variants/e/x",
        "/process/hi?user_key=u1",
    ] {
        // Fresh connections, so both workers are asked.
        for _ in 0..2 {
            let r = reqwest::blocking::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap()
                .get(d.url(path))
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{path}");
        }
    }
    let answered_in = started.elapsed();
    assert!(
        !d.logs().contains("config reloaded"),
        "the reload was still running while they answered (in {answered_in:?})"
    );
    assert!(
        answered_in < Duration::from_millis(1500),
        "8 requests during the reload took {answered_in:?}"
    );

    assert!(d.wait_for_log("config reloaded", Duration::from_secs(10)));
    assert_eq!(answered_by(&c, &d.url("/variants/slow/x")), "slow");
}
