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

unsafe extern "C" fn host_log(
    ctx: abi::HostContextHostPtr,
    level: abi::LogLevel,
    message: abi::Bytes,
) {
    if ctx.is_null() {
        return;
    }
    let ctx = &*(ctx as *const HostContext);
    let message = String::from_utf8_lossy(message.as_slice());
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
unsafe extern "C" fn request_route_params(
    request: *const abi::Request,
    out_params: *mut *const abi::Header,
) -> usize {
    // The ABI requires `request` to be the pointer we passed to `handle`,
    // which always points at a `HostRequest` (see `PluginInstance::call`).
    let Some(host_request) = request.cast::<HostRequest>().as_ref() else {
        return 0;
    };
    let params = &host_request.route_params;
    if let Some(out) = out_params.as_mut() {
        *out = if params.is_empty() {
            std::ptr::null()
        } else {
            params.as_ptr()
        };
    }
    params.len()
}

unsafe extern "C" fn response_set_status(response: abi::ResponseBuilderHostPtr, status: u16) {
    if let Some(sink) = (response as *mut ResponseSink).as_mut() {
        sink.status = if (100..=599).contains(&status) {
            status
        } else {
            500
        };
    }
}

unsafe extern "C" fn response_add_header(
    response: abi::ResponseBuilderHostPtr,
    name: abi::Bytes,
    value: abi::Bytes,
) {
    let Some(sink) = (response as *mut ResponseSink).as_mut() else {
        return;
    };
    match (
        HeaderName::from_bytes(name.as_slice()),
        HeaderValue::from_bytes(value.as_slice()),
    ) {
        (Ok(n), Ok(v)) => sink.headers.push((n, v)),
        _ => tracing::warn!(
            target: "plugin",
            plugin = %sink.context.plugin,
            header = %String::from_utf8_lossy(name.as_slice()),
            "plugin sent an invalid response header; dropped"
        ),
    }
}

unsafe extern "C" fn response_append_body(response: abi::ResponseBuilderHostPtr, data: abi::Bytes) {
    if let Some(sink) = (response as *mut ResponseSink).as_mut() {
        sink.body.extend_from_slice(data.as_slice());
    }
}
