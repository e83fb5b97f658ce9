//! Issue 18: what a hostile local user, client or crash could do, each tried
//! against a real daemon on loopback with real plugins. Every wait is bounded.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn admin_plugins(d: &Daemon) -> Value {
    get_json(&d.url("/admin/plugins")).1
}

fn refusal_of(d: &Daemon, file_name: &str) -> Option<String> {
    admin_plugins(d)["refused"]
        .as_array()?
        .iter()
        .find(|r| r["file"].as_str().unwrap_or("").ends_with(file_name))
        .map(|r| r["reason"].as_str().unwrap_or("").to_string())
}

fn readyz_warnings(d: &Daemon) -> Vec<String> {
    get_json(&d.url("/readyz")).1["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn status_of(d: &Daemon, path: &str) -> u16 {
    client().get(d.url(path)).send().unwrap().status().as_u16()
}

/// A raw request on a fresh connection; the whole answer as text (read
/// until the daemon closes or `timeout`), and how long it took.
fn raw(d: &Daemon, request: &[u8], timeout: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

// ------------------------------------------------------------ plugin file trust

#[test]
fn a_world_writable_plugin_is_refused_and_loads_once_its_mode_is_fixed() {
    let work = Workdir::new().with_example_plugins();
    let file = work.plugins().join("libapp_a.so");
    chmod(&file, 0o666);
    work.write_config(&example_config(""));
    let d = work.start();

    let reason = refusal_of(&d, "libapp_a.so").expect("refused");
    assert!(reason.contains("world-writable"), "{reason}");
    assert!(
        readyz_warnings(&d)
            .iter()
            .any(|w| w.contains("libapp_a.so") && w.contains("writable")),
        "{:?}",
        readyz_warnings(&d)
    );
    assert!(d.logs().contains("plugin refused"));
    assert_eq!(status_of(&d, "/variants/app_a/process/x"), 503);

    chmod(&file, 0o644);
    assert!(
        wait_until(Duration::from_secs(10), || status_of(
            &d,
            "/variants/app_a/process/x"
        ) == 200),
        "a chmod ends the refusal: {}",
        d.logs()
    );
    assert_eq!(refusal_of(&d, "libapp_a.so"), None);
}

#[test]
fn a_plugin_directory_others_can_write_refuses_every_file_in_it() {
    let work = Workdir::new().with_example_plugins();
    chmod(&work.plugins(), 0o777);
    work.write_config(&example_config(""));
    let d = work.start();
    let reason = refusal_of(&d, "libapp_b.so").expect("refused");
    assert!(reason.contains("sticky"), "{reason}");
    assert_eq!(status_of(&d, "/variants/app_b/process/x"), 503);

    // The sticky bit (as on /tmp) means others cannot replace our files.
    chmod(&d.dir.join("plugins"), 0o1777);
    assert!(wait_until(Duration::from_secs(10), || status_of(
        &d,
        "/variants/app_b/process/x"
    ) == 200));
}

#[test]
fn a_symlink_out_of_the_plugin_directory_is_refused_and_configmap_links_load() {
    let work = Workdir::new();
    let outside = tempfile::tempdir_in(scratch_root()).unwrap();
    deploy("app_a", outside.path(), "libapp_a.so");
    std::os::unix::fs::symlink(
        outside.path().join("libapp_a.so"),
        work.plugins().join("libapp_a.so"),
    )
    .unwrap();
    // A ConfigMap: `..2026_12_01/` holds the files, `..data` names it, and
    // each file is a link through `..data`.
    let versioned = work.plugins().join("..2026_12_01");
    std::fs::create_dir(&versioned).unwrap();
    deploy("app_b", &versioned, "libapp_b.so");
    std::os::unix::fs::symlink("..2026_12_01", work.plugins().join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/libapp_b.so", work.plugins().join("libapp_b.so")).unwrap();
    work.write_config(&example_config(""));
    let d = work.start();

    let reason = refusal_of(&d, "libapp_a.so").expect("refused");
    assert!(reason.contains("outside the plugin directory"), "{reason}");
    assert_eq!(status_of(&d, "/variants/app_a/process/x"), 503);
    assert_eq!(status_of(&d, "/variants/app_b/process/x"), 200);
}

#[test]
fn a_plugin_owned_by_another_user_is_refused() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("skipped: only root can give a file to another user");
        return;
    }
    let work = Workdir::new().with_example_plugins();
    let file = work.plugins().join("libapp_c.so");
    rustix::fs::chown(&file, Some(rustix::fs::Uid::from_raw(4242)), None).unwrap();
    work.write_config(&example_config(""));
    let d = work.start();
    let reason = refusal_of(&d, "libapp_c.so").expect("refused");
    assert!(reason.contains("uid 4242"), "{reason}");
}

#[test]
fn with_an_allowlist_only_listed_hashes_load() {
    use sha2::Digest;
    let work = Workdir::new().with_example_plugins();
    let sha_a = hex::encode(sha2::Sha256::digest(
        std::fs::read(work.plugins().join("libapp_a.so")).unwrap(),
    ));
    work.write_config(&example_config("").replace(
        "debounce_ms = 50",
        &format!(
            "debounce_ms = 50\nallowed_sha256 = [\"{}\"]",
            sha_a.to_uppercase()
        ),
    ));
    let d = work.start();
    assert_eq!(status_of(&d, "/variants/app_a/process/x"), 200);
    assert_eq!(status_of(&d, "/variants/app_b/process/x"), 503);
    let reason = refusal_of(&d, "libapp_b.so").expect("refused");
    assert!(reason.contains("allowed_sha256"), "{reason}");
}

// ------------------------------------------------------------ clients

#[test]
fn a_request_id_or_path_cannot_inject_fields_into_the_text_log() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let d = work.start();
    let (answer, _) = raw(
        &d,
        b"GET /process/x\"y?user_key=u1 HTTP/1.1\r\nHost: t\r\nX-Request-Id: forged status=999 variant=\"evil\"\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    assert!(d.wait_for_log("/process/x", Duration::from_secs(3)));
    let logs = d.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("/process/x"))
        .unwrap()
        .to_string();
    assert!(!line.contains("forged"), "unsafe ids are replaced: {line}");
    assert!(!line.contains("status=999"), "{line}");
    assert!(line.contains(r#"path="/process/x\"y""#), "{line}");
    let id = answer
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
}

#[test]
fn a_stalled_body_is_answered_408_at_its_timeout_and_closed() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(
        &example_config("").replace("workers = 2", "workers = 2\nbody_timeout_secs = 1"),
    );
    let d = work.start();
    let (answer, took) = raw(
        &d,
        b"POST /analyze?user_key=u1 HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"text\":",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"));
    assert!(
        took < Duration::from_secs(5),
        "answered at the timeout, not when the client gave up: {took:?}"
    );
}

#[test]
fn upgrade_requests_are_answered_at_once() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let d = work.start();
    let (ws, took) = raw(
        &d,
        b"GET /process/x?user_key=u1 HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(ws.starts_with("HTTP/1.1 501"), "{ws}");
    assert!(ws.contains("WebSocket"), "{ws}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    let (h2c, took) = raw(
        &d,
        b"GET /process/x?user_key=qa-alice HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(h2c.starts_with("HTTP/1.1 200"), "{h2c}");
    let lower = h2c.to_ascii_lowercase();
    assert!(!lower.contains("connection: upgrade"), "{h2c}");
    assert!(h2c.contains("App B processed: x"), "{h2c}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn sigterm_does_not_wait_for_a_stalled_body() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(
        &example_config("").replace("workers = 2", "workers = 2\nshutdown_timeout_secs = 20"),
    );
    let mut d = work.start();
    let mut stalled = TcpStream::connect(d.addr).unwrap();
    stalled
        .write_all(b"POST /analyze?user_key=u1 HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    // Time for the request to reach the handler, which waits for the rest.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = d.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped in {:?}",
        started.elapsed()
    );
    let logs = d.logs();
    assert!(
        !logs.contains("the shutdown timeout ended requests"),
        "{logs}"
    );
    drop(stalled);
}

#[test]
fn user_keys_that_are_not_utf8_and_encoded_nuls_are_refused() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let d = work.start();
    let (status, body) = get_json(&d.url("/process/x?user_key=%ff"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["parameter"], "user_key");
    let (status, _) = get_json(&d.url("/process/x?user_key=caf%C3%A9"));
    assert_eq!(status, 200);
    for path in ["/process/a%00b?user_key=u1", "/variants/app_a/process/%00"] {
        let (status, body) = get_json(&d.url(path));
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("NUL"));
    }
}

#[test]
fn endpoints_never_reflect_a_forged_host() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let d = work.start();
    let (answer, _) = raw(
        &d,
        b"GET /endpoints HTTP/1.1\r\nHost: evil.example/\"><script>\r\nX-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.contains("evil"), "{answer}");
    assert!(
        answer.contains(&format!("http://{}/variants/app_a", d.addr)),
        "{answer}"
    );
    let r = client()
        .get(d.url("/endpoints"))
        .header("host", "variantd.internal:8080")
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    assert_eq!(
        v["app_b_endpoint"],
        "http://variantd.internal:8080/variants/app_b"
    );
}

#[test]
fn reaching_max_connections_is_counted_and_logged() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(
        &example_config("").replace("workers = 2", "workers = 1\nmax_connections = 3"),
    );
    let d = work.start();
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(d.addr).unwrap())
        .collect();
    assert!(d.wait_for_log("max_connections reached", Duration::from_secs(5)));
    drop(idle);
    assert!(wait_until(Duration::from_secs(5), || {
        let m = client()
            .get(d.url("/metrics"))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_default();
        m.lines()
            .any(|l| l.starts_with("variantd_connection_limit_reached_total") && !l.ends_with(" 0"))
    }));
}

// ------------------------------------------------------------ exposures

fn exposure_lines(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("exposures.jsonl") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.is_empty() || text.ends_with('\n'),
                "whole lines in {name}"
            );
            for line in text.lines() {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {line}"));
                if v["eventName"] == "statsig::gate_exposure" {
                    n += 1;
                }
            }
        }
    }
    n
}

#[test]
fn exposures_are_on_disk_within_a_second_and_survive_kill_9() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let d = work.start();
    let c = client();
    for i in 0..500 {
        let r = c
            .get(d.url(&format!("/process/m?user_key=crash-{i}")))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    std::thread::sleep(Duration::from_secs(2));
    d.signal("KILL");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(exposure_lines(&d.dir), 500);
}

#[test]
fn the_exposures_file_rotates_by_size_and_loses_no_line() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config("").replace(
        "exposures_file = \"exposures.jsonl\"",
        "exposures_file = \"exposures.jsonl\"\nexposures_max_bytes = 20000\nexposures_keep = 50\nexposures_flush_ms = 100",
    ));
    let mut d = work.start();
    let c = client();
    for i in 0..300 {
        c.get(d.url(&format!("/process/m?user_key=rot-{i}")))
            .send()
            .unwrap();
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    assert!(d.terminate().success());
    assert!(d.dir.join("exposures.jsonl.1").exists());
    assert!(d.dir.join("exposures.jsonl.2").exists());
    for entry in std::fs::read_dir(&d.dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("exposures.jsonl") {
            assert!(std::fs::metadata(&path).unwrap().len() <= 20000 + 4096);
        }
    }
    assert_eq!(exposure_lines(&d.dir), 300);
}

/// Reads a response head from `r`; the status.
fn status_line(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line
}

#[test]
fn an_admin_listener_of_its_own_keeps_admin_off_the_public_one() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(
        &example_config("").replace("workers = 2", "workers = 2\nadmin_listen = \"127.0.0.1:0\""),
    );
    let d = work.start();
    let admin = d.admin_addr().expect("the daemon says where admin listens");
    let (status, _) = get_json(&d.url("/admin/plugins"));
    assert_eq!(status, 404);
    let (status, body) = get_json(&format!("http://{admin}/admin/plugins"));
    assert_eq!(status, 200, "{body}");
    assert!(body["plugins"].is_array());
    let mut s = BufReader::new(TcpStream::connect(d.addr).unwrap());
    s.get_mut()
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(status_line(&mut s).contains("200"));
}
