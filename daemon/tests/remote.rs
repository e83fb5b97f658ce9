//! Issue 5: remote variants. A real daemon proxies to real HTTP servers on
//! loopback: other variantd processes serving the plugins as plain apps, and
//! small raw HTTP/1.1 servers written here that misbehave on purpose (refuse,
//! hang, fail, lie about their length, close early). Every wait is bounded.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

// ------------------------------------------------------------ upstreams

/// A request as the upstream received it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    /// Lower-case names, in arrival order.
    headers: Vec<(String, String)>,
    /// The body, when at most 1 MiB.
    body: Vec<u8>,
    body_len: usize,
    body_sum: u64,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the upstream does with a request it has read.
enum Action {
    /// Answer, keeping the connection open for the next request.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Say nothing until the test ends.
    Hang,
    /// Close the connection without answering.
    Close,
    /// Declare `declared` bytes, send `sent`, close.
    Truncate { declared: usize, sent: Vec<u8> },
    /// Declare `declared` bytes, send `sent`, then say nothing more.
    Stall { declared: usize, sent: Vec<u8> },
    /// Answer 200 with `len` bytes of [`pattern`], written in 64 KiB pieces.
    Big { len: usize },
}

fn json_answer(status: u16, body: Value) -> Action {
    Action::Respond {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Action + Send + Sync>;

/// A raw HTTP/1.1 server on 127.0.0.1:0, one thread per connection,
/// keep-alive, counting connections and requests. Stops on drop.
struct Upstream {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    fn start(handler: impl Fn(&Seen) -> Action + Send + Sync + 'static) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let up = Upstream {
            addr: listener.local_addr().unwrap(),
            connections: Arc::default(),
            requests: Arc::default(),
            seen: Arc::default(),
            stop: Arc::default(),
        };
        let handler: Handler = Arc::new(handler);
        let (connections, requests, seen, stop) = (
            up.connections.clone(),
            up.requests.clone(),
            up.seen.clone(),
            up.stop.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        connections.fetch_add(1, Ordering::SeqCst);
                        let (handler, requests, seen, stop) = (
                            handler.clone(),
                            requests.clone(),
                            seen.clone(),
                            stop.clone(),
                        );
                        std::thread::spawn(move || {
                            serve_connection(conn, handler, requests, seen, stop)
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        up
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the upstream saw a request")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_connection(
    conn: TcpStream,
    handler: Handler,
    requests: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    while let Some(req) = read_request(&mut reader) {
        requests.fetch_add(1, Ordering::SeqCst);
        seen.lock().unwrap().push(req.clone());
        match handler(&req) {
            Action::Respond {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for (n, v) in headers {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if writer
                    .write_all(head.as_bytes())
                    .and_then(|_| writer.write_all(&body))
                    .is_err()
                {
                    return;
                }
            }
            Action::Hang => {
                let until = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            Action::Close => return,
            Action::Truncate { declared, sent } => {
                let _ = write!(writer, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n");
                let _ = writer.write_all(&sent);
                let _ = writer.flush();
                std::thread::sleep(Duration::from_millis(50));
                return;
            }
            Action::Stall { declared, sent } => {
                let _ = write!(writer, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n");
                let _ = writer.write_all(&sent);
                let _ = writer.flush();
                let until = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            Action::Big { len } => {
                if write!(writer, "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {len}\r\n\r\n").is_err() {
                    return;
                }
                let mut offset = 0;
                while offset < len {
                    let n = (len - offset).min(64 * 1024);
                    if writer.write_all(&pattern(offset, n)).is_err() {
                        return;
                    }
                    offset += n;
                }
            }
        }
    }
}

/// Read one request (head and body, content-length or chunked); `None` at
/// end of connection.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut seen = Seen {
        method,
        target,
        headers,
        body: Vec::new(),
        body_len: 0,
        body_sum: 0,
    };
    let take = |r: &mut BufReader<TcpStream>, n: usize, seen: &mut Seen| -> Option<()> {
        let mut left = n;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let k = r.read(&mut buf[..left.min(64 * 1024)]).ok()?;
            if k == 0 {
                return None;
            }
            seen.body_sum = checksum(seen.body_sum, &buf[..k]);
            if seen.body_len + k <= 1 << 20 {
                seen.body.extend_from_slice(&buf[..k]);
            }
            seen.body_len += k;
            left -= k;
        }
        Some(())
    };
    if seen
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                let mut end = String::new();
                r.read_line(&mut end).ok()?;
                break;
            }
            take(r, size, &mut seen)?;
            let mut crlf = String::new();
            r.read_line(&mut crlf).ok()?;
        }
    } else if let Some(len) = seen.header("content-length").and_then(|v| v.parse().ok()) {
        take(r, len, &mut seen)?;
    }
    Some(seen)
}

/// Deterministic bytes for position `offset..offset+n` of a big body.
fn pattern(offset: usize, n: usize) -> Vec<u8> {
    (offset..offset + n).map(|i| (i % 251) as u8).collect()
}

fn checksum(mut sum: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        sum = sum.wrapping_mul(31).wrapping_add(*b as u64);
    }
    sum
}

/// A loopback port with nothing listening on it.
fn dead_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

// ------------------------------------------------------------ daemons

/// A daemon whose variant `up` is remote (`up_extra`: its further keys), with
/// `/e/{*rest}` (envelope) and `/t/{*rest}` (transparent) bound to it, the
/// prefix stripped. `extra` is appended (more variants).
fn proxy(url: &str, up_extra: &str, extra: &str, with_plugins: bool) -> Daemon {
    let work = if with_plugins {
        Workdir::new().with_example_plugins()
    } else {
        Workdir::new()
    };
    work.write_config(&format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 2
[plugins]
dir = "plugins"
watch = false
[statsig]
specs_file = "statsig_specs.json"

[variants.up]
url = "{url}"
{up_extra}

{extra}

[[routes]]
path = "/e/{{*rest}}"
response = "envelope"
strip_prefix = "/e"
variant = "up"

[[routes]]
path = "/t/{{*rest}}"
strip_prefix = "/t"
variant = "up"
"#
    ));
    work.start()
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .unwrap()
}

fn get(d: &Daemon, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = http().get(d.url(path)).send().unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.bytes().unwrap().to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// A daemon started from a shipped config file, on an ephemeral port, with
/// the test-built plugins.
fn shipped(config: &str) -> Daemon {
    let dir = plugin_build_dir().to_str().unwrap().to_string();
    let path = workspace_root().join("config").join(config);
    Daemon::spawn(
        &path,
        &[
            ("VARIANTD_LISTEN", "127.0.0.1:0"),
            ("VARIANTD_ADMIN_LISTEN", "127.0.0.1:0"),
            ("VARIANTD_PLUGIN_DIR", &dir),
        ],
    )
    .expect("starts")
}

// ------------------------------------------------------------ tests

/// The original three-app topology from the shipped configs: the root
/// (config/remote.toml, variants pointed at the two apps' ephemeral ports)
/// answers exactly like the plugin-mode daemon, user by user.
#[test]
fn remote_variants_route_by_gate_exactly_like_plugins() {
    let app_a = shipped("app_a.toml");
    let app_b = shipped("app_b.toml");
    // The apps serve their plugin as a plain app.
    let (status, _, body) = get(&app_a, "/process/hi");
    assert_eq!(
        (status, json_of(&body)),
        (
            200,
            json!({ "variant": "A", "message": "App A processed: hi", "algorithm": "fast-processing" })
        )
    );
    let (status, _, body) = get(&app_b, "/process/hi");
    assert_eq!(
        (status, json_of(&body)["variant"].clone()),
        (200, json!("B"))
    );

    let root_work = Workdir::new();
    let text = std::fs::read_to_string(workspace_root().join("config/remote.toml")).unwrap();
    assert!(text.contains("http://127.0.0.1:8081") && text.contains("http://127.0.0.1:8082"));
    let text = text
        .replace("http://127.0.0.1:8081", &app_a.url(""))
        .replace("http://127.0.0.1:8082", &app_b.url(""))
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"")
        .replace("../var/exposures.jsonl", "exposures.jsonl")
        .replace("dir = \"../target/release\"", "dir = \"plugins\"");
    root_work.write_config(&text);
    let root = root_work.start();

    let plugin_work = Workdir::new().with_example_plugins();
    plugin_work.write_config(&example_config(""));
    let plugin_mode = plugin_work.start();

    let mut seen_variants = std::collections::BTreeSet::new();
    let users: Vec<String> = ["qa-alice".to_string()]
        .into_iter()
        .chain((0..16).map(|i| format!("user-{i}")))
        .collect();
    for user in &users {
        let path = format!("/process/hello%20world?user_key={user}");
        let (s1, h1, b1) = get(&root, &path);
        let (s2, h2, b2) = get(&plugin_mode, &path);
        assert_eq!(s1, 200, "{}", String::from_utf8_lossy(&b1));
        assert_eq!(
            (s1, json_of(&b1)),
            (s2, json_of(&b2)),
            "envelope for {user}"
        );
        for h in [
            "x-variantd-variant",
            "x-variantd-decided-by",
            "x-variantd-rule-id",
        ] {
            assert_eq!(h1.get(h), h2.get(h), "{h} for {user}");
        }
        seen_variants.insert(
            json_of(&b1)["ab_test_result"]["selected_variant"]
                .as_str()
                .unwrap()
                .to_string(),
        );

        let analyze = |d: &Daemon| {
            let r = http()
                .post(d.url(&format!("/analyze?user_key={user}")))
                .header("content-type", "application/json")
                .body(r#"{"text":"good great product but bad delivery"}"#)
                .send()
                .unwrap();
            (
                r.status().as_u16(),
                r.headers().get("x-variantd-variant").cloned(),
                json_of(&r.bytes().unwrap()),
            )
        };
        assert_eq!(analyze(&root), analyze(&plugin_mode), "/analyze for {user}");
    }
    assert_eq!(
        seen_variants.into_iter().collect::<Vec<_>>(),
        ["A", "B"],
        "both variants were picked"
    );

    // The plain app refuses what the root would refuse.
    let (status, _, _) = get(&app_a, "/analyze");
    assert_eq!(status, 405);

    // GET /endpoints names the apps' URLs.
    let (status, endpoints) = get_json(&root.url("/endpoints"));
    assert_eq!(status, 200);
    assert_eq!(
        endpoints,
        json!({ "app_a_endpoint": app_a.url(""), "app_b_endpoint": app_b.url("") })
    );
}

#[test]
fn upstream_down_is_a_fast_502_naming_the_variant() {
    let d = proxy(&dead_port_url(), "retries = 1", "", false);
    for path in ["/e/x", "/t/x"] {
        let started = Instant::now();
        let (status, _, body) = get(&d, path);
        let body = json_of(&body);
        assert_eq!(status, 502, "{path}: {body}");
        assert_eq!(body["variant"], "up", "{body}");
        assert!(body["error"].as_str().unwrap().contains("`up`"), "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn hanging_upstream_is_a_504_within_its_timeout() {
    let up = Upstream::start(|_| Action::Hang);
    let d = proxy(&up.url(), "timeout_ms = 400\nretries = 2", "", false);
    for (method, path) in [("GET", "/t/slow"), ("GET", "/e/slow"), ("POST", "/t/slow")] {
        let started = Instant::now();
        let r = http()
            .request(method.parse().unwrap(), d.url(path))
            .body("x")
            .send()
            .unwrap();
        let elapsed = started.elapsed();
        let status = r.status().as_u16();
        let body = json_of(&r.bytes().unwrap());
        assert_eq!(status, 504, "{method} {path}: {body}");
        assert_eq!(body["variant"], "up");
        assert!(
            elapsed >= Duration::from_millis(380),
            "{method} {path}: answered after {elapsed:?}, before the timeout"
        );
        assert!(
            elapsed < Duration::from_millis(400 + 1600),
            "{method} {path}: answered after {elapsed:?}"
        );
    }
    // A timeout is not retried: each request reached the upstream once.
    assert!(
        wait_until(Duration::from_secs(2), || up.requests() == 3),
        "requests: {}",
        up.requests()
    );
}

#[test]
fn upstream_stalling_mid_body_is_cut_off_at_the_timeout() {
    let up = Upstream::start(|_| Action::Stall {
        declared: 1000,
        sent: br#"{"partial": "#.to_vec(),
    });
    let d = proxy(
        &up.url(),
        "timeout_ms = 400\nbreaker_failures = 100",
        "",
        false,
    );
    // Envelope: the body shares the request's time budget → 504.
    let started = Instant::now();
    let (status, _, body) = get(&d, "/e/x");
    let elapsed = started.elapsed();
    assert_eq!(
        (status, json_of(&body)["variant"].clone()),
        (504, json!("up")),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        elapsed >= Duration::from_millis(380) && elapsed < Duration::from_millis(2000),
        "{elapsed:?}"
    );
    // Transparent: the head passes, the body breaks off once the upstream is
    // silent for the timeout; never a complete-looking answer.
    let started = Instant::now();
    let r = http().get(d.url("/t/x")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.bytes().is_err(),
        "a stalled body must not read as complete"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(380) && elapsed < Duration::from_millis(2000),
        "{elapsed:?}"
    );
}

#[test]
fn upstream_error_status_passes_through_transparently_and_is_an_error_in_the_envelope() {
    let up = Upstream::start(|_| json_answer(500, json!({ "oops": "db down" })));
    let d = proxy(&up.url(), "breaker_failures = 100", "", false);
    let (status, headers, body) = get(&d, "/t/x");
    assert_eq!(
        (status, json_of(&body)),
        (500, json!({ "oops": "db down" })),
        "transparent: unchanged"
    );
    assert_eq!(headers["x-variantd-variant"], "up");
    let (status, _, body) = get(&d, "/e/x");
    let body = json_of(&body);
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["variant"], "up");
    assert_eq!(body["variant_status"], 500);
    assert!(
        body.get("ab_test_result").is_none(),
        "never wrapped as success: {body}"
    );

    // A 4xx as well.
    let up = Upstream::start(|_| json_answer(404, json!({ "error": "no such thing" })));
    let d = proxy(&up.url(), "", "", false);
    let (status, _, _) = get(&d, "/t/x");
    assert_eq!(status, 404);
    let (status, _, body) = get(&d, "/e/x");
    assert_eq!(
        (status, json_of(&body)["variant_status"].clone()),
        (502, json!(404))
    );
}

#[test]
fn non_json_answer_is_a_502_in_the_envelope() {
    let up = Upstream::start(|_| Action::Respond {
        status: 200,
        headers: vec![("content-type", "text/plain".into())],
        body: b"plain words".to_vec(),
    });
    let d = proxy(&up.url(), "", "", false);
    let (status, _, body) = get(&d, "/e/x");
    let body = json_of(&body);
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["variant"], "up");
    assert!(
        body["error"].as_str().unwrap().contains("not JSON"),
        "{body}"
    );
    let (status, headers, body) = get(&d, "/t/x");
    assert_eq!((status, body.as_slice()), (200, b"plain words".as_slice()));
    assert_eq!(headers["content-type"], "text/plain");
}

#[test]
fn upstream_closing_mid_body_is_never_a_complete_answer() {
    let up = Upstream::start(|_| Action::Truncate {
        declared: 10_000,
        sent: br#"{"partial": "aaaa"#.to_vec(),
    });
    let d = proxy(&up.url(), "breaker_failures = 100", "", false);
    // Transparent: the client sees the head, then a body that breaks off.
    let r = http().get(d.url("/t/x")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-length"],
        "10000",
        "the upstream's length is kept"
    );
    match r.bytes() {
        Err(_) => {}
        Ok(b) => panic!("a truncated body read as complete ({} bytes)", b.len()),
    }
    // Envelope: a 502 naming the variant.
    let (status, _, body) = get(&d, "/e/x");
    let body = json_of(&body);
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["variant"], "up");
}

#[test]
fn circuit_opens_after_failures_and_closes_after_cool_down() {
    let failing = Arc::new(AtomicBool::new(true));
    let f = failing.clone();
    let up = Upstream::start(move |_| {
        if f.load(Ordering::SeqCst) {
            json_answer(500, json!({ "error": "broken" }))
        } else {
            json_answer(200, json!({ "ok": true }))
        }
    });
    let d = proxy(
        &up.url(),
        "retries = 0\nbreaker_failures = 3\nbreaker_cooldown_ms = 800",
        "",
        false,
    );
    for _ in 0..3 {
        let (status, _, _) = get(&d, "/t/x");
        assert_eq!(status, 500, "the first failures pass through");
    }
    assert_eq!(up.requests(), 3);
    let connections = up.connections();
    // Open: fail fast, without touching the upstream.
    for _ in 0..5 {
        let started = Instant::now();
        let (status, _, body) = get(&d, "/t/x");
        let body = json_of(&body);
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["variant"], "up");
        assert!(
            body["error"].as_str().unwrap().contains("circuit open"),
            "{body}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "fails fast: {:?}",
            started.elapsed()
        );
    }
    let (status, _, _) = get(&d, "/e/x");
    assert_eq!(status, 502);
    assert_eq!(
        (up.requests(), up.connections()),
        (3, connections),
        "the open circuit kept requests off the upstream"
    );
    let metrics = d.metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("variantd_circuit_state{variant=\"up\"} 1")),
        "{metrics}"
    );

    // The upstream recovers; after the cool-down one probe closes the circuit.
    failing.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(900));
    let (status, _, body) = get(&d, "/t/x");
    assert_eq!(
        (status, json_of(&body)),
        (200, json!({ "ok": true })),
        "the probe"
    );
    for _ in 0..3 {
        let (status, _, body) = get(&d, "/e/x");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(json_of(&body)["response"], json!({ "ok": true }));
    }
    assert_eq!(up.requests(), 7);
}

#[test]
fn fallback_answers_when_the_remote_cannot_and_says_so() {
    let dead = dead_port_url();
    let failing = Upstream::start(|_| json_answer(503, json!({ "error": "overloaded" })));
    let d = proxy(
        &dead,
        "fallback = \"app_a\"",
        &format!("[variants.app_a]\nlabel = \"A\"\nplugin = \"app_a\"\n[variants.flaky]\nurl = \"{}\"\nfallback = \"app_a\"\nbreaker_failures = 100\n", failing.url()),
        true,
    );
    // Envelope: the fallback's answer, marked.
    let (status, headers, body) = get(&d, "/e/process/hi");
    let body = json_of(&body);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ab_test_result"]["fallback"], true);
    assert_eq!(body["ab_test_result"]["fallback_from"], "up");
    assert_eq!(body["ab_test_result"]["selected_variant"], "A");
    assert_eq!(
        body["response"],
        json!({ "variant": "A", "message": "App A processed: hi", "algorithm": "fast-processing" })
    );
    assert_eq!(headers["x-variantd-fallback-from"], "up");
    assert_eq!(headers["x-variantd-variant"], "app_a");
    // Transparent: the fallback's answer as given, marked in the headers.
    let (status, headers, body) = get(&d, "/t/process/hi");
    assert_eq!(
        (status, json_of(&body)["variant"].clone()),
        (200, json!("A"))
    );
    assert_eq!(headers["x-variantd-fallback-from"], "up");
    // An upstream that answers 5xx is replaced by its fallback too.
    let (status, headers, body) = get(&d, "/variants/flaky/process/hi");
    assert_eq!(
        (status, json_of(&body)["variant"].clone()),
        (200, json!("A"))
    );
    assert_eq!(headers["x-variantd-fallback-from"], "flaky");
    assert_eq!(failing.requests(), 1);
}

/// Raw request so hop-by-hop headers go out exactly as written.
fn raw_exchange(addr: SocketAddr, request: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':').unwrap();
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("content-length");
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (status, headers, body)
}

#[test]
fn forwarded_proto_and_host_are_the_daemons_own_unless_forwarding_headers_are_trusted() {
    let up = Upstream::start(|_| json_answer(200, json!({})));
    let claimed = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "shop.example, inner.example"),
    ];
    let send = |d: &Daemon| {
        let mut r = http().get(d.url("/t/q"));
        for (n, v) in claimed {
            r = r.header(n, v);
        }
        assert_eq!(r.send().unwrap().status(), 200);
        up.last()
    };

    // A client's own claims are not passed on: it could name any host.
    let d = proxy(&up.url(), "", "", false);
    let seen = send(&d);
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some(d.addr.to_string().as_str())
    );

    // Behind a trusted proxy, what that proxy reported goes on (its first entry).
    let d = proxy(&up.url(), "", "[user]\ntrust_forwarded_for = true", false);
    let seen = send(&d);
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    assert_eq!(seen.header("x-forwarded-host"), Some("shop.example"));
}

#[test]
fn forwards_method_path_query_body_and_headers_minus_hop_by_hop() {
    let up = Upstream::start(|_| Action::Respond {
        status: 201,
        headers: vec![
            ("content-type", "application/json".into()),
            ("connection", "x-up-hop".into()),
            ("x-up-hop", "1".into()),
            ("proxy-authenticate", "Basic".into()),
            ("x-up-keep", "kept".into()),
        ],
        body: br#"{"made":true}"#.to_vec(),
    });
    let d = proxy(&up.url(), "", "", false);
    let request = format!(
        "PATCH /t/some/path?a=1&b=two%20words HTTP/1.1\r\nHost: {}\r\nConnection: close, X-Hop-Custom\r\nX-Hop-Custom: secret\r\n\
         TE: trailers\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nKeep-Alive: timeout=5\r\nX-Keep: yes\r\n\
         X-Request-Id: rid-123\r\nX-Forwarded-For: 10.1.2.3\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\npayload",
        d.addr
    );
    let (status, headers, body) = raw_exchange(d.addr, &request);
    assert_eq!(
        (status, body.as_slice()),
        (201, br#"{"made":true}"#.as_slice())
    );
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h("x-up-keep"), Some("kept"));
    assert_eq!(
        h("x-up-hop"),
        None,
        "a header the upstream's Connection lists stays on that hop"
    );
    assert_eq!(h("proxy-authenticate"), None);
    // Not trusted (trust_forwarded_for is off): the client's id is replaced.
    let rid = h("x-request-id").expect("a request id").to_string();
    assert_ne!(rid, "rid-123");
    assert_eq!(h("x-variantd-variant"), Some("up"));

    let seen = up.last();
    assert_eq!(seen.method, "PATCH");
    assert_eq!(seen.target, "/some/path?a=1&b=two%20words");
    assert_eq!(seen.body, b"payload");
    assert_eq!(seen.header("x-keep"), Some("yes"));
    assert_eq!(seen.header("content-type"), Some("text/plain"));
    // The client's own X-Forwarded-For is a claim: replaced, not appended to.
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some(d.addr.to_string().as_str())
    );
    assert_eq!(seen.header("x-request-id"), Some(rid.as_str()));
    assert_eq!(
        seen.header("host"),
        Some(up.addr.to_string().as_str()),
        "Host names the upstream"
    );
    for hop in ["x-hop-custom", "te", "proxy-authorization", "keep-alive"] {
        assert_eq!(
            seen.header(hop),
            None,
            "{hop} crossed the hop: {:?}",
            seen.headers
        );
    }
    assert!(!seen
        .header("connection")
        .unwrap_or("")
        .to_ascii_lowercase()
        .contains("x-hop-custom"));

    // Without a request id, the daemon makes one and both sides get it.
    let r = http().get(d.url("/t/q")).send().unwrap();
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(!rid.is_empty());
    assert_eq!(up.last().header("x-request-id"), Some(rid.as_str()));

    // Accept-Encoding passes on transparent routes; the envelope must parse
    // the answer, so there it asks for an uncompressed one.
    let r = http()
        .get(d.url("/t/q"))
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(up.last().header("accept-encoding"), Some("gzip"));
    let r = http()
        .get(d.url("/e/q"))
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(up.last().header("accept-encoding"), None);
}

#[test]
fn retries_idempotent_methods_only() {
    // Reads the request, then hangs up without answering: a retryable failure.
    let up = Upstream::start(|_| Action::Close);
    let d = proxy(&up.url(), "retries = 2\nbreaker_failures = 100", "", false);
    let cases: [(&str, usize); 5] = [
        ("GET", 3),
        ("POST", 1),
        ("PUT", 3),
        ("DELETE", 3),
        ("PATCH", 1),
    ];
    for (method, attempts) in cases {
        let before = up.requests();
        let r = http()
            .request(method.parse().unwrap(), d.url("/t/thing"))
            .body("small body")
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body = json_of(&r.bytes().unwrap());
        assert_eq!(status, 502, "{method}: {body}");
        assert_eq!(body["variant"], "up");
        assert!(wait_until(Duration::from_secs(2), || up.requests()
            - before
            >= attempts));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(up.requests() - before, attempts, "{method}: attempts");
    }
    let get_without_body = {
        let before = up.requests();
        let (status, _, _) = get(&d, "/t/thing");
        assert_eq!(status, 502);
        up.requests() - before
    };
    assert_eq!(get_without_body, 3, "a GET without body is retried");
}

fn vm_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A reader producing `len` bytes of [`pattern`].
struct PatternReader {
    offset: usize,
    len: usize,
}

impl Read for PatternReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.len - self.offset).min(32 * 1024);
        buf[..n].copy_from_slice(&pattern(self.offset, n));
        self.offset += n;
        Ok(n)
    }
}

#[test]
fn ten_megabytes_stream_through_both_ways_without_being_held_whole() {
    const LEN: usize = 10 * 1024 * 1024;
    let up = Upstream::start(|req| {
        if req.method == "POST" {
            Action::Big { len: LEN }
        } else {
            json_answer(200, json!({ "warm": true }))
        }
    });
    let d = proxy(&up.url(), "timeout_ms = 20000", "", false);
    // Warm up the workers' pools and allocator, then take the baseline peak.
    for _ in 0..4 {
        let (status, _, _) = get(&d, "/t/warm");
        assert_eq!(status, 200);
    }
    let hwm_before = vm_kib(d.pid(), "VmHWM:");

    let r = http()
        .post(d.url("/t/upload"))
        .body(reqwest::blocking::Body::sized(
            PatternReader {
                offset: 0,
                len: LEN,
            },
            LEN as u64,
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut r = r;
    let (mut got, mut sum, mut buf) = (0usize, 0u64, vec![0u8; 64 * 1024]);
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        sum = checksum(sum, &buf[..n]);
        got += n;
    }
    assert_eq!(got, LEN, "the whole answer arrived");
    assert_eq!(sum, checksum(0, &pattern(0, LEN)), "and unchanged");
    let seen = up.last();
    assert_eq!(
        (seen.method.as_str(), seen.body_len),
        ("POST", LEN),
        "the whole request body arrived"
    );
    assert_eq!(
        seen.body_sum,
        checksum(0, &pattern(0, LEN)),
        "and unchanged"
    );
    assert_eq!(
        seen.header("transfer-encoding"),
        Some("chunked"),
        "streamed on, not collected for a content-length"
    );

    let hwm_after = vm_kib(d.pid(), "VmHWM:");
    let growth_kib = hwm_after.saturating_sub(hwm_before);
    eprintln!("daemon peak RSS {hwm_before} → {hwm_after} KiB moving 2 × 10 MiB");
    // Holding either body whole would raise the peak by 10 MiB or more.
    assert!(
        growth_kib < 4 * 1024,
        "peak RSS grew by {growth_kib} KiB moving 2 × 10 MiB ({hwm_before} → {hwm_after} KiB)"
    );
}

#[test]
fn a_trusted_proxys_forwarding_headers_are_appended_to_and_its_safe_request_id_kept() {
    let up = Upstream::start(|_| json_answer(200, json!({})));
    let d = proxy(&up.url(), "", "[user]\ntrust_forwarded_for = true", false);
    let send = |rid: &str| {
        let request = format!(
            "GET /t/x HTTP/1.1\r\nHost: {}\r\nX-Request-Id: {rid}\r\nX-Forwarded-For: 10.1.2.3\r\nX-Real-IP: 10.1.2.3\r\nConnection: close\r\n\r\n",
            d.addr
        );
        let (status, headers, _) = raw_exchange(d.addr, &request);
        assert_eq!(status, 200);
        let id = headers
            .iter()
            .find(|(n, _)| n == "x-request-id")
            .map(|(_, v)| v.clone())
            .unwrap();
        (id, up.last())
    };
    let (id, seen) = send("rid-123");
    assert_eq!(id, "rid-123");
    assert_eq!(seen.header("x-request-id"), Some("rid-123"));
    assert_eq!(seen.header("x-forwarded-for"), Some("10.1.2.3, 127.0.0.1"));
    assert_eq!(seen.header("x-real-ip"), Some("10.1.2.3"));
    // Even from a trusted proxy, an id that could forge log fields is replaced.
    let (id, seen) = send("a b=c\"d");
    assert_ne!(id, "a b=c\"d");
    assert_eq!(seen.header("x-request-id"), Some(id.as_str()));
}

#[test]
fn the_direct_passthrough_forwards_the_path_encoded_and_never_above_its_mount() {
    let up = Upstream::start(|_| json_answer(200, json!({})));
    let d = proxy(&up.url(), "", "", false);
    for (sent, arrives) in [
        ("/variants/up/%2e%2e/%2e%2e/etc/passwd", "/etc/passwd"),
        ("/variants/up/a/../../../etc/passwd", "/etc/passwd"),
        ("/variants/up/a%20b", "/a%20b"),
        ("/variants/up/x%2Fy?q=1%202", "/x%2Fy?q=1%202"),
    ] {
        let request = format!("GET {sent} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let (status, _, body) = raw_exchange(d.addr, &request);
        assert_eq!(status, 200, "{sent}: {}", String::from_utf8_lossy(&body));
        assert_eq!(up.last().target, arrives, "{sent}");
    }
}

#[test]
fn an_upstream_that_hangs_up_is_reported_as_closed() {
    let up = Upstream::start(|_| Action::Close);
    let d = proxy(&up.url(), "retries = 0", "", false);
    let (status, _, body) = get(&d, "/t/x");
    assert_eq!(status, 502);
    let error = json_of(&body)["error"].as_str().unwrap().to_string();
    assert!(error.contains("upstream closed the connection"), "{error}");
}

#[test]
fn a_root_proxying_to_a_variant_app_cannot_reach_its_admin_api() {
    // The variant app as the shipped app_a.toml runs it, but with admin on
    // the main listener and no token: the case a proxy could widen.
    let work = Workdir::new().with_example_plugins();
    work.write_config(
        r#"
[server]
listen = "127.0.0.1:0"
[plugins]
dir = "plugins"
watch = false
[statsig]
specs_file = "statsig_specs.json"
[variants.app_a]
plugin = "app_a"
[[routes]]
path = "/process/{message}"
variant = "app_a"
"#,
    );
    let app = work.start();
    let (status, _, _) = get(&app, "/admin/plugins");
    assert_eq!(status, 200, "a local caller may use admin");
    let root = proxy(&app.url(""), "", "", false);
    for path in [
        "/variants/up/admin/plugins",
        "/t/admin/plugins",
        "/t/admin/config",
    ] {
        let (status, _, body) = get(&root, path);
        assert_eq!(status, 401, "{path}: {}", String::from_utf8_lossy(&body));
    }
    // The shipped variant apps keep admin on a listener of its own.
    let shipped_app = shipped("app_a.toml");
    assert!(shipped_app.admin_addr().is_some());
    let (status, _, _) = get(&shipped_app, "/admin/plugins");
    assert_eq!(status, 404);
}

#[test]
fn readiness_warns_while_a_circuit_is_open() {
    let d = proxy(
        &dead_port_url(),
        "retries = 0\nbreaker_failures = 2\nbreaker_cooldown_ms = 60000",
        "",
        false,
    );
    for _ in 0..3 {
        get(&d, "/t/x");
    }
    let (status, _, body) = get(&d, "/readyz");
    let v = json_of(&body);
    assert_eq!(status, 200, "{v}");
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("variant `up`: circuit open")),
        "{v}"
    );
}
