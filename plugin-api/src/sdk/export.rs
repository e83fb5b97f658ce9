//! The glue between the C ABI and the [`Plugin`] trait: generic `extern "C"`
//! trampolines and the static descriptor. [`export_plugin!`](crate::export_plugin)
//! only instantiates these for the plugin type; hand-written descriptors (for
//! tests of the host's checks) may use them too.
//!
//! Every trampoline runs the plugin's code inside [`catch_unwind`]: a panic
//! never unwinds into the host (which would abort it). It becomes
//! [`VD_ERR_PANIC`](abi::VD_ERR_PANIC) and an error line in the host log with
//! the panic message.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::abi;
use crate::sdk::{Host, InitContext, Plugin, Request};

/// What the SDK keeps behind an [`abi::InstancePluginPtr`].
struct Instance<P> {
    plugin: P,
    host: Host,
}

/// Borrow a `'static` string as ABI bytes (usable in a `static`).
pub const fn static_bytes(s: &'static str) -> abi::Bytes {
    abi::Bytes {
        ptr: s.as_ptr(),
        len: s.len(),
    }
}

/// The v1 descriptor for plugin `P`: current ABI version, the size of this
/// descriptor, `name`, `version` and the three trampolines. `const`, so the
/// result can live in the `static` the entry symbol returns.
pub const fn descriptor<P: Plugin>(
    name: &'static str,
    version: &'static str,
) -> abi::PluginDescriptor {
    assert!(
        crate::is_valid_plugin_name(name),
        "a plugin name is one or more of A-Z a-z 0-9 _ -"
    );
    abi::PluginDescriptor {
        abi_version_major: abi::ABI_VERSION_MAJOR,
        abi_version_minor: abi::ABI_VERSION_MINOR,
        descriptor_size: std::mem::size_of::<abi::PluginDescriptor>() as u32,
        reserved: 0,
        name: static_bytes(name),
        version: static_bytes(version),
        init: Some(init::<P> as abi::InitFn),
        handle: Some(handle::<P> as abi::HandleFn),
        shutdown: Some(shutdown::<P> as abi::ShutdownFn),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<panic payload is not a string>".to_owned()
    }
}

/// Run `f`, turning a panic into `VD_ERR_PANIC` plus a log line
/// "plugin panicked in <what()>: <message>". Nothing unwinds out of here.
fn guard(
    host: Host,
    what: impl FnOnce() -> String,
    f: impl FnOnce() -> abi::Status,
) -> abi::Status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(status) => status,
        Err(payload) => {
            // Formatting and logging are guarded too, and so is dropping the
            // payload (its Drop could panic again): leak it then.
            let logged = catch_unwind(AssertUnwindSafe(|| {
                host.error(&format!(
                    "plugin panicked in {}: {}",
                    what(),
                    panic_message(&*payload)
                ));
            }));
            drop(logged);
            if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
                std::mem::forget(again);
            }
            abi::VD_ERR_PANIC
        }
    }
}

/// `init` hook for `P`: parses the config (empty means `{}`), calls
/// [`Plugin::init`] and boxes the instance together with its [`Host`].
///
/// # Safety
/// Called by the host as the ABI's `init`: `host` must be a valid table (or
/// NULL, then nothing is logged and responses cannot be written),
/// `config_json` readable for the call, `out_instance` writable.
pub unsafe extern "C" fn init<P: Plugin>(
    host: *const abi::HostApi,
    ctx: abi::HostContextHostPtr,
    config_json: abi::Bytes,
    out_instance: *mut abi::InstancePluginPtr,
) -> abi::Status {
    // SAFETY: the caller (the host, per the ABI) guarantees `host` is null or
    // a table that lives as long as the instance, and `ctx` is its context.
    let h = unsafe { Host::from_raw(host, ctx) };
    if out_instance.is_null() {
        h.error("init: the host passed out_instance = NULL");
        return abi::VD_ERR_INTERNAL;
    }
    guard(
        h,
        || "init".to_owned(),
        || {
            // SAFETY: the host keeps `config_json` readable for this call, and
            // `bytes` does not outlive it (the SDK copies what it keeps).
            let bytes = unsafe { config_json.as_slice() };
            let config = if bytes.iter().all(u8::is_ascii_whitespace) {
                serde_json::Value::Object(serde_json::Map::new())
            } else {
                match serde_json::from_slice(bytes) {
                    Ok(v) => v,
                    Err(e) => {
                        h.error(&format!(
                            "init failed: invalid config: config is not valid JSON: {e}"
                        ));
                        return abi::VD_ERR_INVALID_CONFIG;
                    }
                }
            };
            match P::init(InitContext::new(&config, bytes, h)) {
                Ok(plugin) => {
                    let instance = Box::new(Instance { plugin, host: h });
                    // SAFETY: checked non-null above; the caller guarantees
                    // it is writable. The host owns the box from here until
                    // it passes it back to `shutdown`.
                    unsafe { out_instance.write(Box::into_raw(instance).cast()) };
                    abi::VD_OK
                }
                Err(e) => {
                    h.error(&format!("init failed: {e}"));
                    e.status()
                }
            }
        },
    )
}

/// `handle` hook for `P`: wraps the request, calls [`Plugin::handle`] and
/// writes the [`Response`](crate::Response) through the host callbacks.
///
/// # Safety
/// Called by the host as the ABI's `handle`: `instance` must come from
/// [`init::<P>`] and not be shut down; `request` and `response` valid for the
/// call, on this thread.
pub unsafe extern "C" fn handle<P: Plugin>(
    instance: abi::InstancePluginPtr,
    request: *const abi::Request,
    response: abi::ResponseBuilderHostPtr,
) -> abi::Status {
    if instance.is_null() || request.is_null() || response.is_null() {
        return abi::VD_ERR_INTERNAL;
    }
    // SAFETY: non-null, and the caller guarantees it is the `Instance<P>` box
    // from `init::<P>`, not yet shut down; `handle` may run on many threads at
    // once, and we only take a shared reference.
    let inst = unsafe { &*instance.cast_const().cast::<Instance<P>>() };
    let host = inst.host;
    // SAFETY: non-null, and the host keeps the request valid for this call.
    let raw = unsafe { &*request };
    guard(
        host,
        || {
            // SAFETY: the request's text fields are readable for the call,
            // and this closure runs within it.
            let (m, p) = unsafe { (raw.method.as_slice(), raw.path.as_slice()) };
            format!(
                "handle {} {}",
                String::from_utf8_lossy(m),
                String::from_utf8_lossy(p)
            )
        },
        || {
            // SAFETY: `raw` is the host's request, valid for this call; `req`
            // is dropped before `handle` returns.
            let req = unsafe { Request::from_raw(raw, host) };
            match inst.plugin.handle(&req) {
                Ok(resp) => {
                    let api = host.raw_api();
                    if api.is_null() {
                        return abi::VD_ERR_INTERNAL;
                    }
                    // SAFETY: `api` is the host table from `init` (non-null,
                    // checked above; it outlives the instance), and `response`
                    // is the builder the host passed for this call, on this
                    // thread.
                    unsafe { resp.write_to(&*api, response) };
                    abi::VD_OK
                }
                Err(e) => {
                    host.error(&format!(
                        "handle {} {} failed: {e}",
                        req.method(),
                        req.path()
                    ));
                    e.status()
                }
            }
        },
    )
}

/// `shutdown` hook for `P`: calls [`Plugin::shutdown`], then drops the
/// instance. A panic in either is caught and logged.
///
/// # Safety
/// Called by the host as the ABI's `shutdown`, once per instance from
/// [`init::<P>`], after the last `handle` returned.
pub unsafe extern "C" fn shutdown<P: Plugin>(instance: abi::InstancePluginPtr) {
    if instance.is_null() {
        return;
    }
    // SAFETY: the caller guarantees `instance` is the box from `init::<P>`,
    // passed here once, after the last `handle` returned: we own it again.
    let inst = unsafe { Box::from_raw(instance.cast::<Instance<P>>()) };
    let host = inst.host;
    guard(
        host,
        || "shutdown".to_owned(),
        move || {
            inst.plugin.shutdown();
            drop(inst);
            abi::VD_OK
        },
    );
}

/// Export a [`Plugin`](crate::Plugin) type as a variantd plugin.
///
/// ```ignore
/// variantd_plugin_api::export_plugin!(AppA, name = "app_a");
/// variantd_plugin_api::export_plugin!(AppA, name = "app_a", version = "1.2.3");
/// ```
///
/// Emits the ABI v1 entry point, `#[no_mangle] extern "C" fn
/// variantd_plugin_entry_v1() -> *const PluginDescriptor`, returning a static
/// descriptor built by [`descriptor`]. `version` defaults to the plugin
/// crate's `CARGO_PKG_VERSION`. Use it exactly once per cdylib.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, name = $name:expr $(,)?) => {
        $crate::export_plugin!(
            $plugin,
            name = $name,
            version = ::core::env!("CARGO_PKG_VERSION")
        );
    };
    ($plugin:ty, name = $name:expr, version = $version:expr $(,)?) => {
        /// The variantd ABI v1 entry point (generated by `export_plugin!`).
        #[unsafe(no_mangle)]
        pub extern "C" fn variantd_plugin_entry_v1() -> *const $crate::abi::PluginDescriptor {
            static DESCRIPTOR: $crate::abi::PluginDescriptor =
                $crate::sdk::export::descriptor::<$plugin>($name, $version);
            &DESCRIPTOR
        }
    };
}
