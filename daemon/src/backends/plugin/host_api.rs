//! The functions variantd offers to plugins (`HostApi`), and the response
//! sink a plugin writes into. The host owns all response memory, so nothing
//! allocated by a plugin is ever freed by us or the other way round.

use actix_web::http::header::{HeaderName, HeaderValue};
use variantd_plugin_api::abi;

use super::instance::PluginResponse;

/// Per-instance context the plugin passes back to `log`.
pub(super) struct HostContext {
    pub plugin: String,
    pub variant: String,
}

/// The host table handed to every `init`; static, so valid forever.
pub(super) static HOST_API: abi::HostApi = abi::HostApi {
    size: std::mem::size_of::<abi::HostApi>() as u32,
    log: host_log,
    response_set_status,
    response_add_header,
    response_append_body,
    request_route_params: Some(request_route_params),
};

/// The request as the host builds it for `handle`: the ABI request first
/// (`repr(C)`), so the pointer the plugin gets, and passes back to
/// `request_route_params`, is also a pointer to this.
#[repr(C)]
pub(super) struct HostRequest {
    pub raw: abi::Request,
    /// The matched route's parameters as name/value pairs, for ABI 1.1
    /// plugins; borrowed like everything in `raw`, for the `handle` call.
    pub route_params: Vec<abi::Header>,
}

pub(super) struct ResponseSink<'a> {
    context: &'a HostContext,
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
}

impl<'a> ResponseSink<'a> {
    pub fn new(context: &'a HostContext) -> Self {
        ResponseSink {
            context,
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn into_response(self) -> PluginResponse {
        PluginResponse {
            status: self.status,
            headers: self.headers,
            body: self.body,
        }
    }
}

// These run inside plugin calls: they must never unwind into plugin frames,
// so they do nothing that can panic short of an allocation failure.

/// `log` callback of the host table.
///
/// # Safety
///
/// `ctx` is null or the `HostContext` pointer the host passed to the plugin's
/// `init` (it lives until after the instance's `shutdown`), and `message`
/// points at `len` readable bytes for the duration of the call.
unsafe extern "C" fn host_log(
    ctx: abi::HostContextHostPtr,
    level: abi::LogLevel,
    message: abi::Bytes,
) {
    if ctx.is_null() {
        return;
    }
    // SAFETY: non-null `ctx` is the `HostContext` we handed to `init`; the
    // instance owns it and drops it only after `shutdown`, so it is live for
    // any call the plugin makes, on whichever thread it makes it.
    let ctx = unsafe { &*(ctx as *const HostContext) };
    // SAFETY: the caller guarantees `message` is readable for this call.
    let message = String::from_utf8_lossy(unsafe { message.as_slice() });
    let (plugin, variant) = (ctx.plugin.as_str(), ctx.variant.as_str());
    match level {
        abi::VD_LOG_ERROR => tracing::error!(target: "plugin", plugin, variant, "{message}"),
        abi::VD_LOG_WARN => tracing::warn!(target: "plugin", plugin, variant, "{message}"),
        abi::VD_LOG_DEBUG => tracing::debug!(target: "plugin", plugin, variant, "{message}"),
        abi::VD_LOG_TRACE => tracing::trace!(target: "plugin", plugin, variant, "{message}"),
        // INFO, and levels a newer plugin may know that we do not.
        _ => tracing::info!(target: "plugin", plugin, variant, "{message}"),
    }
}

/// ABI 1.1: hand out the route parameters of the request being handled.
///
/// # Safety
///
/// `request` is null or the request pointer the host passed to the `handle`
/// call that is running on this thread; `out_params` is null or valid for a
/// write. The returned array lives as long as that `handle` call.
unsafe extern "C" fn request_route_params(
    request: *const abi::Request,
    out_params: *mut *const abi::Header,
) -> usize {
    // The ABI requires `request` to be the pointer we passed to `handle`,
    // which always points at a `HostRequest` (see `PluginInstance::call`).
    // SAFETY: per the caller's contract the pointer is null or the
    // `HostRequest` that `PluginInstance::call` borrows for the whole call.
    let Some(host_request) = (unsafe { request.cast::<HostRequest>().as_ref() }) else {
        return 0;
    };
    let params = &host_request.route_params;
    // SAFETY: the caller guarantees `out_params` is null or writable.
    if let Some(out) = unsafe { out_params.as_mut() } {
        *out = if params.is_empty() {
            std::ptr::null()
        } else {
            params.as_ptr()
        };
    }
    params.len()
}

/// `response_set_status` callback of the host table.
///
/// # Safety
///
/// `response` is null or the response builder the host passed to the `handle`
/// call running on this thread, and nothing else touches it during the call.
unsafe extern "C" fn response_set_status(response: abi::ResponseBuilderHostPtr, status: u16) {
    // SAFETY: non-null `response` is the `ResponseSink` that
    // `PluginInstance::call` owns on its stack for the whole `handle` call and
    // lends only to this thread's callbacks, one at a time.
    if let Some(sink) = unsafe { (response as *mut ResponseSink).as_mut() } {
        sink.status = if (100..=599).contains(&status) {
            status
        } else {
            500
        };
    }
}

/// `response_add_header` callback of the host table.
///
/// # Safety
///
/// As for [`response_set_status`]; in addition `name` and `value` each point
/// at `len` readable bytes for the duration of the call.
unsafe extern "C" fn response_add_header(
    response: abi::ResponseBuilderHostPtr,
    name: abi::Bytes,
    value: abi::Bytes,
) {
    // SAFETY: non-null `response` is the `ResponseSink` that
    // `PluginInstance::call` owns for the whole `handle` call and lends only
    // to this thread's callbacks, one at a time.
    let Some(sink) = (unsafe { (response as *mut ResponseSink).as_mut() }) else {
        return;
    };
    // SAFETY: the caller guarantees both slices are readable for this call.
    let (name, value) = unsafe { (name.as_slice(), value.as_slice()) };
    match (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
        (Ok(n), Ok(v)) => sink.headers.push((n, v)),
        _ => tracing::warn!(
            target: "plugin",
            plugin = %sink.context.plugin,
            header = %String::from_utf8_lossy(name),
            "plugin sent an invalid response header; dropped"
        ),
    }
}

/// `response_append_body` callback of the host table.
///
/// # Safety
///
/// As for [`response_set_status`]; in addition `data` points at `len`
/// readable bytes for the duration of the call.
unsafe extern "C" fn response_append_body(response: abi::ResponseBuilderHostPtr, data: abi::Bytes) {
    // SAFETY: non-null `response` is the `ResponseSink` that
    // `PluginInstance::call` owns for the whole `handle` call and lends only
    // to this thread's callbacks, one at a time.
    if let Some(sink) = unsafe { (response as *mut ResponseSink).as_mut() } {
        // SAFETY: the caller guarantees `data` is readable for this call.
        sink.body.extend_from_slice(unsafe { data.as_slice() });
    }
}
