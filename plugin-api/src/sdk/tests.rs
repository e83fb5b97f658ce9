//! SDK unit tests: drive the trampolines (and the exported entry point) with
//! a fake host table written here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::json;

use crate::abi::{self, Bytes};
use crate::sdk::export;
use crate::{ErrorKind, InitContext, Plugin, PluginError, Request, Response};

// ---------------------------------------------------------------- fake host

#[derive(Default)]
struct FakeLog {
    lines: Mutex<Vec<(abi::LogLevel, String)>>,
}

impl FakeLog {
    fn lines(&self) -> Vec<(abi::LogLevel, String)> {
        self.lines.lock().unwrap().clone()
    }
    fn contains(&self, level: abi::LogLevel, needle: &str) -> bool {
        self.lines()
            .iter()
            .any(|(l, m)| *l == level && m.contains(needle))
    }
}

#[derive(Default, Debug)]
struct FakeResponse {
    status: Option<u16>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    calls: usize,
}

/// Fake host callback.
///
/// # Safety
///
/// The pointers are the fake host's own (from the test that called `handle`),
/// valid for the call, on this thread.
unsafe extern "C" fn fake_log(ctx: abi::HostContextHostPtr, level: abi::LogLevel, message: Bytes) {
    // SAFETY: the SDK under test passes back the fake context, builder or
    // request this test created and still owns, during the call.
    unsafe {
        let log = &*ctx.cast::<FakeLog>();
        let text = String::from_utf8(message.as_slice().to_vec()).expect("log lines are UTF-8");
        log.lines.lock().unwrap().push((level, text));
    }
}

/// Fake host callback.
///
/// # Safety
///
/// The pointers are the fake host's own (from the test that called `handle`),
/// valid for the call, on this thread.
unsafe extern "C" fn fake_set_status(r: abi::ResponseBuilderHostPtr, status: u16) {
    // SAFETY: the SDK under test passes back the fake context, builder or
    // request this test created and still owns, during the call.
    unsafe {
        let r = &mut *r.cast::<FakeResponse>();
        r.status = Some(status);
        r.calls += 1;
    }
}

/// Fake host callback.
///
/// # Safety
///
/// The pointers are the fake host's own (from the test that called `handle`),
/// valid for the call, on this thread.
unsafe extern "C" fn fake_add_header(r: abi::ResponseBuilderHostPtr, name: Bytes, value: Bytes) {
    // SAFETY: the SDK under test passes back the fake context, builder or
    // request this test created and still owns, during the call.
    unsafe {
        let r = &mut *r.cast::<FakeResponse>();
        let n = String::from_utf8_lossy(name.as_slice()).into_owned();
        let v = String::from_utf8_lossy(value.as_slice()).into_owned();
        r.headers.push((n, v));
        r.calls += 1;
    }
}

/// Fake host callback.
///
/// # Safety
///
/// The pointers are the fake host's own (from the test that called `handle`),
/// valid for the call, on this thread.
unsafe extern "C" fn fake_append_body(r: abi::ResponseBuilderHostPtr, data: Bytes) {
    // SAFETY: the SDK under test passes back the fake context, builder or
    // request this test created and still owns, during the call.
    unsafe {
        let r = &mut *r.cast::<FakeResponse>();
        r.body.extend_from_slice(data.as_slice());
        r.calls += 1;
    }
}

/// The fake host's request: the ABI request first, so the pointer handed to
/// `handle` is also a pointer to this (what a real host does too).
#[repr(C)]
struct FakeRawRequest {
    raw: abi::Request,
    route_params: Vec<abi::Header>,
}

/// Fake host callback.
///
/// # Safety
///
/// The pointers are the fake host's own (from the test that called `handle`),
/// valid for the call, on this thread.
unsafe extern "C" fn fake_route_params(
    request: *const abi::Request,
    out_params: *mut *const abi::Header,
) -> usize {
    // SAFETY: the SDK under test passes back the fake context, builder or
    // request this test created and still owns, during the call.
    unsafe {
        let fake = &*request.cast::<FakeRawRequest>();
        if !out_params.is_null() {
            *out_params = if fake.route_params.is_empty() {
                std::ptr::null()
            } else {
                fake.route_params.as_ptr()
            };
        }
        fake.route_params.len()
    }
}

/// # Safety
///
/// None needed: it aborts without touching its arguments.
unsafe extern "C" fn must_not_be_called(
    _: *const abi::Request,
    _: *mut *const abi::Header,
) -> usize {
    std::process::abort() // unwinding out of extern "C" would abort anyway; say so plainly
}

static FAKE_API: abi::HostApi = abi::HostApi {
    size: std::mem::size_of::<abi::HostApi>() as u32,
    log: fake_log,
    response_set_status: fake_set_status,
    response_add_header: fake_add_header,
    response_append_body: fake_append_body,
    request_route_params: Some(fake_route_params),
};

/// A 1.0 host: `size` ends before `request_route_params`. The field is set
/// to a function that aborts, so reading it despite `size` fails the test.
static FAKE_API_V1_0: abi::HostApi = abi::HostApi {
    size: abi::HOST_API_V1_0_SIZE,
    request_route_params: Some(must_not_be_called),
    ..FAKE_API
};

/// Owns the strings a raw request points to.
struct OwnedRequest {
    method: Vec<u8>,
    path: Vec<u8>,
    query: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    user_key: Vec<u8>,
    variant: Vec<u8>,
    decided_by: Vec<u8>,
    rule_id: Vec<u8>,
    route_params: Vec<(Vec<u8>, Vec<u8>)>,
}

impl OwnedRequest {
    fn new(method: &str, path: &str) -> Self {
        OwnedRequest {
            method: method.into(),
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            user_key: Vec::new(),
            variant: Vec::new(),
            decided_by: Vec::new(),
            rule_id: Vec::new(),
            route_params: Vec::new(),
        }
    }

    /// Call `f` with a raw view of this request.
    fn with_raw<R>(&self, f: impl FnOnce(&abi::Request) -> R) -> R {
        let headers: Vec<abi::Header> = self
            .headers
            .iter()
            .map(|(n, v)| abi::Header {
                name: Bytes::from_slice(n),
                value: Bytes::from_slice(v),
            })
            .collect();
        let raw = abi::Request {
            method: Bytes::from_slice(&self.method),
            path: Bytes::from_slice(&self.path),
            query: Bytes::from_slice(&self.query),
            headers: if headers.is_empty() {
                std::ptr::null()
            } else {
                headers.as_ptr()
            },
            headers_len: headers.len(),
            body: Bytes::from_slice(&self.body),
            user_key: Bytes::from_slice(&self.user_key),
            variant: Bytes::from_slice(&self.variant),
            decided_by: Bytes::from_slice(&self.decided_by),
            rule_id: Bytes::from_slice(&self.rule_id),
        };
        let fake = FakeRawRequest {
            raw,
            route_params: self
                .route_params
                .iter()
                .map(|(n, v)| abi::Header {
                    name: Bytes::from_slice(n),
                    value: Bytes::from_slice(v),
                })
                .collect(),
        };
        f(&fake.raw)
    }
}

struct Loaded {
    desc: &'static abi::PluginDescriptor,
    log: Box<FakeLog>,
    instance: abi::InstancePluginPtr,
}

// SAFETY: the ABI lets the host call `handle` on one instance from many
// threads; the fake log is a Mutex.
unsafe impl Sync for Loaded {}

impl Loaded {
    fn ctx(log: &FakeLog) -> abi::HostContextHostPtr {
        (log as *const FakeLog).cast()
    }

    fn try_init(desc: &'static abi::PluginDescriptor, config: &[u8]) -> (abi::Status, Loaded) {
        Self::try_init_with(&FAKE_API, desc, config)
    }

    fn try_init_with(
        api: &'static abi::HostApi,
        desc: &'static abi::PluginDescriptor,
        config: &[u8],
    ) -> (abi::Status, Loaded) {
        let log = Box::<FakeLog>::default();
        let mut instance: abi::InstancePluginPtr = std::ptr::null_mut();
        let init = desc.init.expect("init hook");
        // SAFETY: the static fake table, the boxed log (owned by `Loaded`
        // until after shutdown) and `instance` are valid for the call.
        let status = unsafe {
            init(
                api,
                Self::ctx(&log),
                Bytes::from_slice(config),
                &mut instance,
            )
        };
        (
            status,
            Loaded {
                desc,
                log,
                instance,
            },
        )
    }

    fn init(desc: &'static abi::PluginDescriptor, config: &[u8]) -> Loaded {
        let (status, loaded) = Self::try_init(desc, config);
        assert_eq!(status, abi::VD_OK, "init failed: {:?}", loaded.log.lines());
        loaded
    }

    fn call(&self, req: &OwnedRequest) -> (abi::Status, FakeResponse) {
        let mut resp = FakeResponse::default();
        let handle = self.desc.handle.expect("handle hook");
        // SAFETY: `raw`, `resp` and the instance outlive this call on this
        // thread; the fake host only touches `resp` during it.
        let status = req.with_raw(|raw| unsafe {
            handle(self.instance, raw, (&mut resp as *mut FakeResponse).cast())
        });
        (status, resp)
    }

    fn shutdown(self) -> Box<FakeLog> {
        if let Some(shutdown) = self.desc.shutdown {
            // SAFETY: the instance came from `init` and no `call` is running
            // (we own `self`); it is shut down exactly once.
            unsafe { shutdown(self.instance) }
        }
        self.log
    }
}

// ---------------------------------------------------------- test plugins

static SHUTDOWNS: AtomicUsize = AtomicUsize::new(0);

/// The plugin exported through the real macro (so the entry symbol exists in
/// the test binary too).
struct Tester {
    greeting: String,
    host: crate::Host,
}

impl Plugin for Tester {
    fn init(ctx: InitContext<'_>) -> Result<Self, PluginError> {
        if ctx.config().get("reject").is_some() {
            return Err(PluginError::invalid_config("reject was set"));
        }
        if ctx.config().get("missing").is_some() {
            return Err(PluginError::unavailable("the thing is missing"));
        }
        if ctx.config().get("panic").is_some() {
            panic!("init exploded");
        }
        ctx.host().info("tester ready");
        Ok(Tester {
            greeting: ctx.config_str("greeting").unwrap_or("hi").to_owned(),
            host: ctx.host(),
        })
    }

    fn handle(&self, req: &Request<'_>) -> Result<Response, PluginError> {
        match req.path() {
            "/panic" => panic!("boom at {}", req.path()),
            "/panic-str" => std::panic::panic_any(42_u32),
            "/fail" => Err(PluginError::internal("could not do it")),
            p if p.starts_with("/users/") => Ok(Response::json(
                200,
                &json!({
                    "params": req.route_params().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>(),
                    "id": req.route_param("id"),
                    "nope": req.route_param("nope"),
                }),
            )),
            "/log" => {
                req.host().warn("from request");
                self.host.debug("from stored host");
                Ok(Response::new(204))
            }
            "/echo" => Ok(Response::json(
                201,
                &json!({
                    "greeting": self.greeting,
                    "method": req.method(),
                    "path": req.path(),
                    "query": req.query(),
                    "q": req.query_param("q"),
                    "flag": req.query_param("flag"),
                    "missing": req.query_param("nope"),
                    "x_test": req.header("X-Test"),
                    "headers": req.headers().map(|h| format!("{}={}", h.name(), h.value())).collect::<Vec<_>>(),
                    "body": req.body_str(),
                    "user_key": req.user_key(),
                    "variant": req.variant(),
                    "decided_by": req.decided_by(),
                    "rule_id": req.rule_id(),
                }),
            )
            .with_header("x-extra", "1")),
            _ => Ok(Response::not_found_json(req.path())),
        }
    }

    fn shutdown(&self) {
        SHUTDOWNS.fetch_add(1, Ordering::SeqCst);
        self.host.info("tester stopping");
    }
}

crate::export_plugin!(Tester, name = "tester", version = "9.8.7");

/// Uses every default of the trait.
struct Minimal;

impl Plugin for Minimal {
    fn init(_: InitContext<'_>) -> Result<Self, PluginError> {
        Ok(Minimal)
    }
}

static MINIMAL: abi::PluginDescriptor = export::descriptor::<Minimal>("minimal", "0.0.1");

/// Panics in shutdown.
struct PanicOnShutdown;

impl Plugin for PanicOnShutdown {
    fn init(_: InitContext<'_>) -> Result<Self, PluginError> {
        Ok(PanicOnShutdown)
    }
    fn shutdown(&self) {
        panic!("shutdown exploded");
    }
}

static PANIC_ON_SHUTDOWN: abi::PluginDescriptor = export::descriptor::<PanicOnShutdown>("pos", "1");

fn tester() -> &'static abi::PluginDescriptor {
    // SAFETY: the entry returns a pointer to a static descriptor.
    unsafe { &*variantd_plugin_entry_v1() }
}

fn body_json(resp: &FakeResponse) -> serde_json::Value {
    serde_json::from_slice(&resp.body).expect("JSON body")
}

// ------------------------------------------------------------------ tests

#[test]
fn entry_point_returns_a_v1_descriptor() {
    let d = tester();
    assert_eq!(d.abi_version_major, abi::ABI_VERSION_MAJOR);
    assert_eq!(d.abi_version_minor, abi::ABI_VERSION_MINOR);
    assert_eq!(
        d.descriptor_size as usize,
        std::mem::size_of::<abi::PluginDescriptor>()
    );
    assert_eq!(d.reserved, 0);
    // SAFETY: static text in a static descriptor of this test binary.
    assert_eq!(unsafe { d.name.as_slice() }, b"tester");
    assert_eq!(unsafe { d.version.as_slice() }, b"9.8.7");
    assert!(d.init.is_some() && d.handle.is_some() && d.shutdown.is_some());
    // The macro hard-codes the symbol; it must be the ABI's.
    assert_eq!(abi::ENTRY_SYMBOL, "variantd_plugin_entry_v1");
    assert_eq!(abi::ENTRY_SYMBOL_NUL, b"variantd_plugin_entry_v1\0");
    // Same static on every call.
    assert!(std::ptr::eq(d, tester()));
}

#[test]
fn request_fields_and_response_go_through_the_callbacks() {
    let p = Loaded::init(tester(), br#"{"greeting":"hello"}"#);
    assert!(p.log.contains(abi::VD_LOG_INFO, "tester ready"));
    let mut req = OwnedRequest::new("POST", "/echo");
    req.query = b"q=a%20b+c&flag&x=1".to_vec();
    req.headers = vec![
        (b"x-test".to_vec(), b"yes".to_vec()),
        (b"Accept".to_vec(), b"*/*".to_vec()),
    ];
    req.body = b"{\"k\":1}".to_vec();
    req.user_key = b"user-1".to_vec();
    req.variant = b"A".to_vec();
    req.decided_by = b"exp".to_vec();
    req.rule_id = b"rule".to_vec();
    let (status, resp) = p.call(&req);
    assert_eq!(status, abi::VD_OK);
    assert_eq!(resp.status, Some(201));
    assert_eq!(
        resp.headers,
        vec![
            ("content-type".into(), "application/json".into()),
            ("x-extra".into(), "1".into())
        ]
    );
    assert_eq!(
        body_json(&resp),
        json!({
            "greeting": "hello", "method": "POST", "path": "/echo", "query": "q=a%20b+c&flag&x=1",
            "q": "a b c", "flag": "", "missing": null, "x_test": "yes",
            "headers": ["x-test=yes", "Accept=*/*"], "body": "{\"k\":1}",
            "user_key": "user-1", "variant": "A", "decided_by": "exp", "rule_id": "rule",
        })
    );
    p.shutdown();
}

#[test]
fn panic_in_handle_is_caught_and_logged() {
    let p = Loaded::init(tester(), b"{}");
    let (status, resp) = p.call(&OwnedRequest::new("GET", "/panic"));
    assert_eq!(status, abi::VD_ERR_PANIC);
    assert_eq!(resp.calls, 0, "nothing written on panic");
    assert!(p.log.contains(
        abi::VD_LOG_ERROR,
        "plugin panicked in handle GET /panic: boom at /panic"
    ));

    let (status, _) = p.call(&OwnedRequest::new("GET", "/panic-str"));
    assert_eq!(status, abi::VD_ERR_PANIC);
    assert!(p
        .log
        .contains(abi::VD_LOG_ERROR, "panic payload is not a string"));

    // The instance keeps working after a panic.
    let (status, resp) = p.call(&OwnedRequest::new("GET", "/elsewhere"));
    assert_eq!(status, abi::VD_OK);
    assert_eq!(resp.status, Some(404));
    p.shutdown();
}

#[test]
fn panic_in_init_and_shutdown_is_caught() {
    let (status, p) = Loaded::try_init(tester(), br#"{"panic":true}"#);
    assert_eq!(status, abi::VD_ERR_PANIC);
    assert!(p.instance.is_null());
    assert!(p
        .log
        .contains(abi::VD_LOG_ERROR, "plugin panicked in init: init exploded"));

    static POS: &abi::PluginDescriptor = &PANIC_ON_SHUTDOWN;
    let p = Loaded::init(POS, b"{}");
    let log = p.shutdown();
    assert!(log.contains(
        abi::VD_LOG_ERROR,
        "plugin panicked in shutdown: shutdown exploded"
    ));
}

#[test]
fn errors_map_to_status_codes() {
    let (status, p) = Loaded::try_init(tester(), br#"{"reject":1}"#);
    assert_eq!(status, abi::VD_ERR_INVALID_CONFIG);
    assert!(p.log.contains(
        abi::VD_LOG_ERROR,
        "init failed: invalid config: reject was set"
    ));

    let (status, _) = Loaded::try_init(tester(), br#"{"missing":1}"#);
    assert_eq!(status, abi::VD_ERR_UNAVAILABLE);

    let (status, p) = Loaded::try_init(tester(), b"{not json");
    assert_eq!(status, abi::VD_ERR_INVALID_CONFIG);
    assert!(p.log.contains(abi::VD_LOG_ERROR, "not valid JSON"));

    let p = Loaded::init(tester(), b"{}");
    let (status, resp) = p.call(&OwnedRequest::new("GET", "/fail"));
    assert_eq!(status, abi::VD_ERR_INTERNAL);
    assert_eq!(resp.calls, 0);
    assert!(p.log.contains(
        abi::VD_LOG_ERROR,
        "handle GET /fail failed: internal error: could not do it"
    ));
    p.shutdown();

    assert_eq!(
        PluginError::invalid_config("x").status(),
        abi::VD_ERR_INVALID_CONFIG
    );
    assert_eq!(PluginError::internal("x").status(), abi::VD_ERR_INTERNAL);
    assert_eq!(
        PluginError::unavailable("x").status(),
        abi::VD_ERR_UNAVAILABLE
    );
    assert_eq!(PluginError::new(ErrorKind::Internal, "m").message(), "m");
    let json_err: PluginError = serde_json::from_str::<serde_json::Value>("{")
        .unwrap_err()
        .into();
    assert_eq!(json_err.kind(), ErrorKind::Internal);
}

#[test]
fn empty_config_means_empty_object() {
    let p = Loaded::init(tester(), b"");
    let (_, resp) = p.call(&OwnedRequest::new("GET", "/echo"));
    assert_eq!(body_json(&resp)["greeting"], "hi");
    p.shutdown();
}

#[test]
fn invalid_utf8_does_not_panic() {
    let p = Loaded::init(tester(), b"{}");
    let mut req = OwnedRequest::new("GET", "/echo");
    req.method = b"G\xffT".to_vec();
    req.query = b"q=%ff%fe&\xff=1".to_vec();
    req.headers = vec![
        (b"x-test".to_vec(), b"\xc3\x28".to_vec()),
        (b"\xfe".to_vec(), b"v".to_vec()),
    ];
    req.body = b"\x80\x81".to_vec();
    req.user_key = b"\xff".to_vec();
    let (status, resp) = p.call(&req);
    assert_eq!(status, abi::VD_OK, "{:?}", p.log.lines());
    let body = body_json(&resp);
    assert_eq!(body["method"], "G\u{fffd}T");
    assert_eq!(body["q"], "\u{fffd}\u{fffd}");
    assert_eq!(body["x_test"], "\u{fffd}(");
    assert_eq!(body["body"], "\u{fffd}\u{fffd}");
    assert_eq!(body["user_key"], "\u{fffd}");

    // Invalid UTF-8 in the path: the 404 default path still works.
    let (status, resp) = p.call(&OwnedRequest {
        path: b"/\xff".to_vec(),
        ..OwnedRequest::new("GET", "")
    });
    assert_eq!(status, abi::VD_OK);
    assert_eq!(resp.status, Some(404));
    assert_eq!(body_json(&resp)["path"], "/\u{fffd}");
    p.shutdown();
}

#[test]
fn logging_from_handle_and_shutdown() {
    let before = SHUTDOWNS.load(Ordering::SeqCst);
    let p = Loaded::init(tester(), b"{}");
    let (status, resp) = p.call(&OwnedRequest::new("GET", "/log"));
    assert_eq!((status, resp.status), (abi::VD_OK, Some(204)));
    assert!(resp.headers.is_empty() && resp.body.is_empty());
    assert!(p.log.contains(abi::VD_LOG_WARN, "from request"));
    assert!(p.log.contains(abi::VD_LOG_DEBUG, "from stored host"));
    let log = p.shutdown();
    assert!(log.contains(abi::VD_LOG_INFO, "tester stopping"));
    assert!(SHUTDOWNS.load(Ordering::SeqCst) > before);
}

#[test]
fn trait_defaults() {
    static D: &abi::PluginDescriptor = &MINIMAL;
    let p = Loaded::init(D, b"{}");
    let (status, resp) = p.call(&OwnedRequest::new("GET", "/x"));
    assert_eq!(status, abi::VD_OK);
    assert_eq!(resp.status, Some(404));
    assert_eq!(
        body_json(&resp),
        json!({"error": "not found", "path": "/x"})
    );
    p.shutdown();
}

#[test]
fn concurrent_handles() {
    let p = Loaded::init(tester(), b"{}");
    let p = &p;
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for i in 0..200 {
                    let path = if i % 10 == 0 { "/panic" } else { "/echo" };
                    let (status, resp) = p.call(&OwnedRequest::new("GET", path));
                    if path == "/panic" {
                        assert_eq!(status, abi::VD_ERR_PANIC, "thread {t}");
                    } else {
                        assert_eq!(resp.status, Some(201), "thread {t}");
                    }
                }
            });
        }
    });
}

#[test]
fn null_arguments_are_refused() {
    // SAFETY: each hook is handed nulls (or the fake host), which the SDK must
    // refuse before dereferencing anything; nothing outlives the block.
    unsafe {
        let init = tester().init.unwrap();
        let handle = tester().handle.unwrap();
        let shutdown = tester().shutdown.unwrap();
        let log = FakeLog::default();
        assert_eq!(
            init(
                &FAKE_API,
                Loaded::ctx(&log),
                Bytes::EMPTY,
                std::ptr::null_mut()
            ),
            abi::VD_ERR_INTERNAL
        );
        assert_eq!(
            handle(std::ptr::null_mut(), std::ptr::null(), std::ptr::null_mut()),
            abi::VD_ERR_INTERNAL
        );
        shutdown(std::ptr::null_mut());
    }
}

#[test]
fn response_helpers() {
    let r = Response::text(200, "hi");
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.body(), b"hi");
    let r = Response::method_not_allowed_json("PUT", "/p", "GET");
    assert_eq!(r.status(), 405);
    assert_eq!(r.header("allow"), Some("GET"));
    let r = Response::bad_request_json("bad");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(r.body()).unwrap(),
        json!({"error": "bad"})
    );
    let mut r = Response::default().with_status(202);
    r.add_header("a", "b");
    r.append_body(b"xy");
    assert_eq!(
        (r.status(), r.headers().len(), r.body()),
        (202, 1, &b"xy"[..])
    );
    assert_eq!(crate::percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    assert_eq!(crate::percent_decode("caf%C3%A9+x"), "café+x");
    assert!(matches!(
        crate::percent_decode("plain"),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn route_params_come_from_a_1_1_host_in_pattern_order() {
    let p = Loaded::init(tester(), b"{}");
    let mut req = OwnedRequest::new("GET", "/users/42/posts/2026/05");
    req.route_params = vec![
        (b"id".to_vec(), b"42".to_vec()),
        (b"rest".to_vec(), b"2026%2F05".to_vec()),
    ];
    let (status, resp) = p.call(&req);
    assert_eq!(status, abi::VD_OK);
    assert_eq!(
        body_json(&resp),
        json!({ "params": ["id=42", "rest=2026%2F05"], "id": "42", "nope": null })
    );
    // No params (a variant addressed directly): empty, not an error.
    let (_, resp) = p.call(&OwnedRequest::new("GET", "/users/x"));
    assert_eq!(
        body_json(&resp),
        json!({ "params": [], "id": null, "nope": null })
    );
    p.shutdown();
}

#[test]
fn a_1_0_host_table_is_never_read_past_its_size() {
    let (status, p) = Loaded::try_init_with(&FAKE_API_V1_0, tester(), b"{}");
    assert_eq!(status, abi::VD_OK);
    let mut req = OwnedRequest::new("GET", "/users/42");
    req.route_params = vec![(b"id".to_vec(), b"42".to_vec())];
    let (status, resp) = p.call(&req);
    assert_eq!(status, abi::VD_OK);
    assert_eq!(
        body_json(&resp),
        json!({ "params": [], "id": null, "nope": null })
    );
    p.shutdown();
}
