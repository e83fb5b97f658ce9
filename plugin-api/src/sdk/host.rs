use std::fmt;

use crate::abi;

/// Severity of a log line sent to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    /// The ABI value (`VD_LOG_*`).
    pub const fn as_raw(self) -> abi::LogLevel {
        match self {
            Level::Error => abi::VD_LOG_ERROR,
            Level::Warn => abi::VD_LOG_WARN,
            Level::Info => abi::VD_LOG_INFO,
            Level::Debug => abi::VD_LOG_DEBUG,
            Level::Trace => abi::VD_LOG_TRACE,
        }
    }
}

/// A handle to the host for one plugin instance: its logger.
///
/// Lines go to the daemon's log, attributed to the plugin (each cdylib has
/// its own copy of `std`, `log` and `tracing`, so those would not reach the
/// daemon). `Copy`, `Send` and `Sync`: keep it in your plugin struct and use
/// it from any thread, **but only until [`Plugin::shutdown`] returns** (the
/// host's table and context are gone after that). Never use it from a thread
/// that outlives the instance.
///
/// [`Plugin::shutdown`]: crate::Plugin::shutdown
#[derive(Clone, Copy)]
pub struct Host {
    api: *const abi::HostApi,
    ctx: abi::HostContextHostPtr,
}

// SAFETY: the ABI guarantees that every HostApi function may be called from
// any thread and that the table and context stay valid until shutdown returns.
unsafe impl Send for Host {}
unsafe impl Sync for Host {}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("api", &self.api)
            .field("ctx", &self.ctx)
            .finish()
    }
}

impl Host {
    /// Wrap the raw table and context the host passed to `init`.
    ///
    /// # Safety
    /// `api` must be NULL or point to a valid [`abi::HostApi`] that, like
    /// `ctx`, stays valid for as long as this `Host` (or a copy) is used.
    pub unsafe fn from_raw(api: *const abi::HostApi, ctx: abi::HostContextHostPtr) -> Self {
        Host { api, ctx }
    }

    /// A host that drops every line. For unit tests of plugin logic.
    pub fn disconnected() -> Self {
        Host {
            api: std::ptr::null(),
            ctx: std::ptr::null(),
        }
    }

    /// The raw table (NULL for [`Host::disconnected`]).
    pub fn raw_api(&self) -> *const abi::HostApi {
        self.api
    }

    /// The raw context to pass back to the host.
    pub fn raw_ctx(&self) -> abi::HostContextHostPtr {
        self.ctx
    }

    /// The host's `request_route_params` (ABI 1.1), if its table has one.
    /// A 1.0 host's table is shorter than [`abi::HostApi`]: the field is read
    /// only after `size` says it exists, never past the host's table.
    pub fn route_params_fn(&self) -> Option<abi::RequestRouteParamsFn> {
        if self.api.is_null() {
            return None;
        }
        let end = std::mem::offset_of!(abi::HostApi, request_route_params)
            + std::mem::size_of::<Option<abi::RequestRouteParamsFn>>();
        // SAFETY: see `from_raw`. `size` is the first field of every version;
        // the appended field is read through a raw place (no reference to a
        // whole `HostApi` that may not exist) and only when `size` covers it.
        unsafe {
            let size = std::ptr::addr_of!((*self.api).size).read();
            if (size as usize) < end {
                return None;
            }
            std::ptr::addr_of!((*self.api).request_route_params).read()
        }
    }

    /// Write one line at `level`. Never fails; the host drops lines above
    /// its configured level.
    pub fn log(&self, level: Level, message: &str) {
        if self.api.is_null() {
            return;
        }
        // SAFETY: see `from_raw`; the message is borrowed for the call only,
        // which is all the ABI asks.
        unsafe {
            ((*self.api).log)(
                self.ctx,
                level.as_raw(),
                abi::Bytes::from_slice(message.as_bytes()),
            )
        }
    }

    /// Log at [`Level::Error`].
    pub fn error(&self, message: &str) {
        self.log(Level::Error, message)
    }

    /// Log at [`Level::Warn`].
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message)
    }

    /// Log at [`Level::Info`].
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message)
    }

    /// Log at [`Level::Debug`].
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message)
    }

    /// Log at [`Level::Trace`].
    pub fn trace(&self, message: &str) {
        self.log(Level::Trace, message)
    }
}
