//! One initialised plugin instance (a library plus one variant's config), and
//! the one place that calls a plugin's `handle`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use variantd_plugin_api::abi;

use super::host_api::{HostContext, HostRequest, ResponseSink, HOST_API};
use super::library::PluginLibrary;
use super::loader::{code_name, LoadError};

/// What the HTTP layer hands to a plugin. Borrowed for the call.
pub struct PluginRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    pub body: &'a [u8],
    pub user_key: &'a str,
    pub variant: &'a str,
    pub decided_by: &'a str,
    pub rule_id: &'a str,
}

/// What a plugin answered.
#[derive(Debug)]
pub struct PluginResponse {
    pub status: u16,
    pub headers: Vec<(
        actix_web::http::header::HeaderName,
        actix_web::http::header::HeaderValue,
    )>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}` failed with code {code} ({})", code_name(*code))]
pub struct CallError {
    pub plugin: String,
    pub code: i32,
}

/// Owned by the instance and released together, on the reaper thread.
struct Live {
    instance: abi::InstancePluginPtr,
    // Boxed so the pointer the plugin holds stays put; lives until shutdown returns.
    host_context: Box<HostContext>,
    library: Arc<PluginLibrary>,
}

pub struct PluginInstance {
    live: Option<Live>,
    handle: abi::HandleFn,
    pub variant: String,
    pub config_json: String,
}

// SAFETY: the ABI requires `handle` to be callable from many threads at once
// on one instance; the instance pointer is never dereferenced by us.
unsafe impl Send for PluginInstance {}
// SAFETY: as for `Send`: concurrent `handle` calls on one instance are what
// the ABI requires a plugin to support; our own fields are Sync.
unsafe impl Sync for PluginInstance {}

impl PluginInstance {
    /// Run the plugin's `init` with `config_json` for `variant`.
    pub fn init(
        library: &Arc<PluginLibrary>,
        variant: &str,
        config_json: &str,
    ) -> Result<Arc<PluginInstance>, LoadError> {
        let descriptor = library.descriptor();
        let (Some(init), Some(handle)) = (descriptor.init, descriptor.handle) else {
            return Err(LoadError::MissingHook("init"));
        };
        let host_context = Box::new(HostContext {
            plugin: library.name.clone(),
            variant: variant.to_string(),
        });
        let mut instance: abi::InstancePluginPtr = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the call; the host table is static
        // and the context outlives the instance (dropped after shutdown).
        let code = unsafe {
            init(
                &HOST_API,
                &*host_context as *const HostContext as abi::HostContextHostPtr,
                abi::Bytes::from_slice(config_json.as_bytes()),
                &mut instance,
            )
        };
        if code != abi::VD_OK {
            return Err(LoadError::InitFailed {
                variant: variant.to_string(),
                code,
            });
        }
        Ok(Arc::new(PluginInstance {
            live: Some(Live {
                instance,
                host_context,
                library: library.clone(),
            }),
            handle,
            variant: variant.to_string(),
            config_json: config_json.to_string(),
        }))
    }

    pub fn library(&self) -> &Arc<PluginLibrary> {
        &self.live.as_ref().expect("live until drop").library
    }

    /// Call `handle` on this thread. The plugin must not block (variants
    /// marked `blocking` are called from the blocking pool by the caller).
    pub fn call(&self, req: &PluginRequest<'_>) -> Result<PluginResponse, CallError> {
        self.call_with_params(req, &[])
    }

    /// [`call`](Self::call), also giving the plugin the matched route's
    /// `{params}` as `(name, value)` (ABI 1.1 `request_route_params`; a 1.0
    /// plugin never asks). Borrowed for the call, like the request.
    pub fn call_with_params(
        &self,
        req: &PluginRequest<'_>,
        route_params: &[(&str, &str)],
    ) -> Result<PluginResponse, CallError> {
        let live = self.live.as_ref().expect("live until drop");
        let headers: Vec<abi::Header> = req
            .headers
            .iter()
            .map(|(n, v)| abi::Header {
                name: abi::Bytes::from_slice(n),
                value: abi::Bytes::from_slice(v),
            })
            .collect();
        let raw = abi::Request {
            method: abi::Bytes::from_slice(req.method.as_bytes()),
            path: abi::Bytes::from_slice(req.path.as_bytes()),
            query: abi::Bytes::from_slice(req.query.as_bytes()),
            headers: if headers.is_empty() {
                std::ptr::null()
            } else {
                headers.as_ptr()
            },
            headers_len: headers.len(),
            body: abi::Bytes::from_slice(req.body),
            user_key: abi::Bytes::from_slice(req.user_key.as_bytes()),
            variant: abi::Bytes::from_slice(req.variant.as_bytes()),
            decided_by: abi::Bytes::from_slice(req.decided_by.as_bytes()),
            rule_id: abi::Bytes::from_slice(req.rule_id.as_bytes()),
        };
        let request = HostRequest {
            raw,
            route_params: route_params
                .iter()
                .map(|(n, v)| abi::Header {
                    name: abi::Bytes::from_slice(n.as_bytes()),
                    value: abi::Bytes::from_slice(v.as_bytes()),
                })
                .collect(),
        };
        let mut sink = ResponseSink::new(&live.host_context);
        live.library.in_flight.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `request`, `headers` and `sink` outlive the call; the sink is
        // only touched through the host callbacks on this thread.
        let code = unsafe {
            (self.handle)(
                live.instance,
                &request.raw,
                &mut sink as *mut ResponseSink as abi::ResponseBuilderHostPtr,
            )
        };
        live.library.in_flight.fetch_sub(1, Ordering::Relaxed);
        if code != abi::VD_OK {
            return Err(CallError {
                plugin: live.library.name.clone(),
                code,
            });
        }
        Ok(sink.into_response())
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        let Some(live) = self.live.take() else { return };
        let retention = live.library_retention();
        // The last Arc may drop on a request thread: never run plugin code there.
        retention.defer(Box::new(move || live.release()));
    }
}

// SAFETY: moved to the reaper thread once, used there alone.
unsafe impl Send for Live {}

impl Live {
    /// Run `shutdown`, then let go of the host context and the library.
    fn release(self) {
        let Live {
            instance,
            host_context,
            library,
        } = self;
        if let Some(shutdown) = library.descriptor().shutdown {
            // SAFETY: no `handle` call can be running (the instance's last Arc
            // is gone), and shutdown is called exactly once.
            unsafe { shutdown(instance) };
        }
        drop(host_context);
        drop(library);
    }

    fn library_retention(&self) -> Arc<super::retention::Retention> {
        self.library.retention()
    }
}
