//! The safe Rust SDK: write a plugin by implementing [`Plugin`] and exporting
//! it with [`export_plugin!`](crate::export_plugin).
//!
//! The SDK owns every `unsafe` and every `extern "C"` function a plugin
//! needs: the generic trampolines in [`export`] turn the C calls of the host
//! into calls of the trait, catch every panic at the boundary (a panic
//! becomes [`VD_ERR_PANIC`](crate::abi::VD_ERR_PANIC) and a log line, never an
//! abort of the daemon), map [`PluginError`]s to status codes and write the
//! [`Response`] through the host's callbacks (the host owns all response
//! memory; nothing allocated by the plugin crosses the boundary).
//!
//! Plugins must be built with `panic = "unwind"` (the default): with
//! `panic = "abort"` there is nothing to catch and a panic kills the daemon.

mod error;
pub mod export;
mod host;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use error::{ErrorKind, PluginError};
pub use host::{Host, Level};
pub use request::{percent_decode, Header, Headers, Request, RouteParams};
pub use response::Response;

/// What a plugin receives when the host creates an instance.
///
/// Borrowed for the duration of [`Plugin::init`] only; the [`Host`] handle is
/// `Copy` and may be kept in the plugin (it stays valid until shutdown).
#[derive(Debug)]
pub struct InitContext<'a> {
    config: &'a serde_json::Value,
    config_bytes: &'a [u8],
    host: Host,
}

impl<'a> InitContext<'a> {
    /// Assemble a context. The trampoline does this; exposed for tests of
    /// plugins that want to call [`Plugin::init`] directly.
    pub fn new(config: &'a serde_json::Value, config_bytes: &'a [u8], host: Host) -> Self {
        InitContext {
            config,
            config_bytes,
            host,
        }
    }

    /// The plugin's config, parsed. `{}` (an empty object) when the host
    /// config gave none. Unknown keys are the plugin's business.
    pub fn config(&self) -> &'a serde_json::Value {
        self.config
    }

    /// The config exactly as the host passed it (a JSON document).
    pub fn config_bytes(&self) -> &'a [u8] {
        self.config_bytes
    }

    /// Convenience: the string at top-level key `key` of the config, if the
    /// config is an object and that value is a string.
    pub fn config_str(&self, key: &str) -> Option<&'a str> {
        self.config.get(key).and_then(serde_json::Value::as_str)
    }

    /// The host's logger for this instance. Copy it into your plugin struct
    /// if you want to log later from [`Plugin::handle`] (or use
    /// [`Request::host`]).
    pub fn host(&self) -> Host {
        self.host
    }
}

/// A variantd plugin: one type, one method per phase of its life.
///
/// Phases, in order:
/// 1. [`init`](Plugin::init) once per instance, on a host control thread;
/// 2. [`handle`](Plugin::handle) for every request, concurrently from many
///    request threads (hence `Send + Sync`);
/// 3. [`shutdown`](Plugin::shutdown) once, after the last `handle` returned,
///    then the instance is dropped (on the same control thread).
///
/// A panic in any phase is caught by the SDK: `init` fails with
/// `VD_ERR_PANIC`, `handle` makes the host answer a 5xx for that request
/// only, and the panic message is logged through the host.
pub trait Plugin: Send + Sync + Sized + 'static {
    /// Build the instance from the plugin's JSON config (the host passes `{}`
    /// when the config file gives none; the SDK rejects a document that is
    /// not JSON with `VD_ERR_INVALID_CONFIG` before calling this).
    ///
    /// Return [`PluginError::invalid_config`] to refuse a config, or
    /// [`PluginError::unavailable`] when a resource is missing; the host then
    /// keeps the previous version serving. Log the reason with
    /// `ctx.host().error(..)`: the SDK logs the error's message too.
    ///
    /// There is no default: every plugin says how it is built. Plugins with
    /// no configuration simply return `Ok(Self)`.
    fn init(ctx: InitContext<'_>) -> Result<Self, PluginError>;

    /// Answer one request. Called concurrently from many threads; must not
    /// block for long (it runs on a daemon request thread).
    ///
    /// `Ok(response)` is sent as is. `Err(e)` (or a panic) makes the host
    /// discard the answer and reply with a JSON 5xx naming the variant; the
    /// error is logged through the host.
    ///
    /// Default: `404` with `{"error":"not found","path":"<path>"}`.
    fn handle(&self, req: &Request<'_>) -> Result<Response, PluginError> {
        Ok(Response::not_found_json(req.path()))
    }

    /// Called once after the last request, on a host control thread. Stop
    /// and join any thread you started here: the library may be unloaded
    /// right after. The instance is dropped when this returns.
    ///
    /// Default: nothing.
    fn shutdown(&self) {}
}
