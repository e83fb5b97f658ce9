//! The raw C ABI, version 1: `#[repr(C)]` mirrors of `include/variantd_plugin.h`.
//!
//! This module is the contract. The header and these types must agree field by
//! field; `tests/layout.rs` compiles the header and checks sizes, alignments
//! and offsets against these definitions.
//!
//! Naming follows Envoy's dynamic-module ABI: a pointer type whose name ends in
//! `HostPtr` points to memory owned by the host (variantd), one ending in
//! `PluginPtr` to memory owned by the plugin. Neither side ever frees memory
//! the other side allocated.
//!
//! Threads: `init` and `shutdown` are called from a control thread of the host,
//! never concurrently with each other for the same instance. `handle` is called
//! from any number of request threads at once, concurrently, for the same
//! instance, between `init` returning `VD_OK` and `shutdown` being called.

use std::ffi::c_void;

/// Major version of this ABI. Part of the entry symbol's name, so a host and a
/// plugin of different majors never even find each other's entry point as a
/// compatible one.
pub const ABI_VERSION_MAJOR: u32 = 1;
/// Minor version of this ABI: bumped when fields are appended to the end of
/// [`PluginDescriptor`] or [`HostApi`]. Older hosts ignore fields they do not
/// know; newer hosts check `descriptor_size` before reading appended fields.
///
/// - 1.0: the first version.
/// - 1.1: [`HostApi::request_route_params`] (the matched route's `{params}`).
pub const ABI_VERSION_MINOR: u32 = 1;

/// Name of the one symbol a plugin exports. Signature: [`EntryFn`].
pub const ENTRY_SYMBOL: &str = "variantd_plugin_entry_v1";
/// The same, NUL-terminated, for `dlsym`.
pub const ENTRY_SYMBOL_NUL: &[u8] = b"variantd_plugin_entry_v1\0";

/// Status codes returned by plugin hooks. Anything other than `VD_OK` is an error.
pub type Status = i32;
/// Success.
pub const VD_OK: Status = 0;
/// `init`: the JSON config was rejected (malformed or invalid values).
pub const VD_ERR_INVALID_CONFIG: Status = 1;
/// `init`/`handle`: the plugin failed for a reason of its own.
pub const VD_ERR_INTERNAL: Status = 2;
/// `init`/`handle`: the plugin panicked (Rust SDK) or crashed in a way it caught.
pub const VD_ERR_PANIC: Status = 3;
/// `init`: a resource the plugin needs is unavailable (file, port, memory).
pub const VD_ERR_UNAVAILABLE: Status = 4;

/// Log levels passed to [`HostApi::log`].
pub type LogLevel = u32;
pub const VD_LOG_ERROR: LogLevel = 1;
pub const VD_LOG_WARN: LogLevel = 2;
pub const VD_LOG_INFO: LogLevel = 3;
pub const VD_LOG_DEBUG: LogLevel = 4;
pub const VD_LOG_TRACE: LogLevel = 5;

/// A borrowed byte buffer: `len` bytes at `ptr`, not NUL-terminated, UTF-8
/// where the field says "text". `ptr` may be NULL only when `len` is 0.
/// Who owns it and for how long is said by the field or parameter that holds it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Bytes {
    pub ptr: *const u8,
    pub len: usize,
}

impl Bytes {
    pub const EMPTY: Bytes = Bytes {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrow a Rust slice. The result is valid only while `s` is.
    pub fn from_slice(s: &[u8]) -> Bytes {
        Bytes {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// # Safety
    /// `self` must describe `len` readable bytes (or be empty) that stay valid
    /// and unchanged for the lifetime `'a` chosen by the caller.
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            &[]
        } else {
            // SAFETY: non-null and non-empty; the caller guarantees `len`
            // readable bytes at `ptr`, unchanged for `'a`.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// One HTTP header: name and value, both text. Borrowed like [`Bytes`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub name: Bytes,
    pub value: Bytes,
}

/// One request, as the host hands it to `handle`.
///
/// Owned by the host. Every pointer in it, and every buffer those point to, is
/// valid only until `handle` returns. A plugin that needs any of it later must
/// copy it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Request {
    /// Text: `GET`, `POST`, ...
    pub method: Bytes,
    /// Text: the path below the variant's mount point, starting with `/`
    /// (`/process/hi` for `/variants/app_a/process/hi`, or for a routed
    /// `/process/hi`). Percent-decoding is not applied.
    pub path: Bytes,
    /// Text: the raw query string without `?`; empty when there is none.
    pub query: Bytes,
    /// `headers_len` headers at `headers`; NULL only when `headers_len` is 0.
    pub headers: *const Header,
    pub headers_len: usize,
    /// The whole request body; empty when there is none.
    pub body: Bytes,
    /// Routing context. Text: the user key the decision was made for; when
    /// the variant was addressed directly (no decision), the user key the
    /// request carries, if any; else empty.
    pub user_key: Bytes,
    /// Text: the name of the variant this request was routed to (the plugin's
    /// variant in the host config, which may differ from the plugin's name).
    pub variant: Bytes,
    /// Text: the gate, experiment or dynamic config that chose the variant;
    /// empty when the variant was addressed directly.
    pub decided_by: Bytes,
    /// Text: the Statsig rule id that matched; empty when none or unknown.
    pub rule_id: Bytes,
}

/// Opaque: the host's per-plugin context, passed to `init` and to every
/// [`HostApi::log`] call so log lines are attributed to the plugin. Owned by
/// the host; valid from `init` until `shutdown` returns.
#[repr(C)]
pub struct HostContext {
    _private: [u8; 0],
}
pub type HostContextHostPtr = *const HostContext;

/// Opaque: the response being built for one `handle` call. Owned by the host;
/// valid only during that `handle` call, and only on the thread that received it.
#[repr(C)]
pub struct ResponseBuilder {
    _private: [u8; 0],
}
pub type ResponseBuilderHostPtr = *mut ResponseBuilder;

/// Opaque: one initialised plugin instance. Owned by the plugin: created by
/// `init`, released by `shutdown`; the host never dereferences it.
pub type InstancePluginPtr = *mut c_void;

/// Functions the host offers to the plugin. The table itself is owned by the
/// host and valid from `init` until `shutdown` returns; a plugin may keep the
/// pointer. Every function may be called from any thread.
///
/// Fields appended after v1.0 exist only if `size` covers them: a plugin
/// built against a newer header may be loaded by an older host, whose table
/// is shorter. Compare `size` with the field's end offset before reading
/// such a field (`size >= offset_of!(HostApi, field) + size_of::<field>()`);
/// reading it otherwise reads past the host's table. The SDK does this.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct HostApi {
    /// `sizeof(HostApi)` as the host compiled it. Fields past this size do not
    /// exist in this host.
    pub size: u32,
    /// Write one log line, attributed to the plugin. `message` is text borrowed
    /// for the call only. Never fails; lines above the host's level are dropped.
    pub log: unsafe extern "C" fn(ctx: HostContextHostPtr, level: LogLevel, message: Bytes),
    /// Set the response status (100..=599; anything else becomes 500). Default 200.
    pub response_set_status: unsafe extern "C" fn(response: ResponseBuilderHostPtr, status: u16),
    /// Append one header. `name` and `value` are copied before the call returns.
    /// Invalid header names or values are dropped and logged by the host.
    pub response_add_header:
        unsafe extern "C" fn(response: ResponseBuilderHostPtr, name: Bytes, value: Bytes),
    /// Append bytes to the body; may be called repeatedly. Copied before return.
    pub response_append_body: unsafe extern "C" fn(response: ResponseBuilderHostPtr, data: Bytes),
    /// **v1.1.** The parameters of the route pattern that matched this
    /// request. See [`RequestRouteParamsFn`]. Present only when `size`
    /// covers it; NULL means the host has none to offer (same as 0 params).
    pub request_route_params: Option<RequestRouteParamsFn>,
}

/// `request_route_params` (ABI 1.1): the `{name}` parameters of the route
/// pattern that matched `request`, as name/value pairs ([`Header`] is reused
/// as the pair type).
///
/// - `request`: the pointer the host passed to the running `handle` call,
///   exactly (not a copy: the host finds its own data from it).
/// - `out_params`: where to write a pointer to the host-owned array of pairs;
///   NULL for none. May itself be NULL to ask for the count only.
/// - returns the number of pairs; 0 when the request was not routed through a
///   pattern with parameters (e.g. a variant addressed directly, by
///   `/variants/<name>/...`).
///
/// Ownership: the array and every byte it points to are owned by the host and
/// valid until that `handle` call returns, like the request itself; never
/// freed or written by the plugin. Thread: any thread, during that `handle`
/// call. Names are the pattern's, without braces or `*` (`{*rest}` gives
/// `rest`); values are the matched path text, not percent-decoded (like
/// [`Request::path`]), in pattern order. A catch-all value has no leading `/`.
pub type RequestRouteParamsFn =
    unsafe extern "C" fn(request: *const Request, out_params: *mut *const Header) -> usize;

/// Size of the v1.0 host table (everything before `request_route_params`):
/// what a v1.0 host puts in [`HostApi::size`]. Rust-only, for hosts and tests.
pub const HOST_API_V1_0_SIZE: u32 = std::mem::offset_of!(HostApi, request_route_params) as u32;

/// `init`: create an instance from the plugin's config.
///
/// - `host`: the host's function table (see [`HostApi`] for lifetime).
/// - `ctx`: the host context to pass back to `host->log`.
/// - `config_json`: the plugin's config from the host config file, as a JSON
///   document (`{}` when none was given); borrowed for the call only.
/// - `out_instance`: where to write the new instance on success. Untouched or
///   ignored on error.
///
/// Returns `VD_OK` or an error code; on error the host refuses the plugin and
/// never calls `handle` or `shutdown` for it.
pub type InitFn = unsafe extern "C" fn(
    host: *const HostApi,
    ctx: HostContextHostPtr,
    config_json: Bytes,
    out_instance: *mut InstancePluginPtr,
) -> Status;

/// `handle`: answer one request by writing into `response` with the
/// `response_*` host functions. Called concurrently from many threads.
/// Returns `VD_OK`, or an error code: then whatever was written to `response`
/// is discarded and the host answers a JSON 5xx naming the variant.
pub type HandleFn = unsafe extern "C" fn(
    instance: InstancePluginPtr,
    request: *const Request,
    response: ResponseBuilderHostPtr,
) -> Status;

/// `shutdown`: release the instance. Called once, after the last `handle` call
/// on it has returned, on a host control thread. The plugin must stop any
/// threads it started before returning: the library may be unloaded after.
pub type ShutdownFn = unsafe extern "C" fn(instance: InstancePluginPtr);

/// What the entry symbol returns: the plugin's identity and hooks.
///
/// Owned by the plugin, static: it must stay valid and unchanged for as long
/// as the library is loaded.
#[repr(C)]
pub struct PluginDescriptor {
    /// Must be [`ABI_VERSION_MAJOR`] of the header the plugin was built with.
    pub abi_version_major: u32,
    /// [`ABI_VERSION_MINOR`] of that header.
    pub abi_version_minor: u32,
    /// `sizeof(PluginDescriptor)` as the plugin compiled it. The host refuses
    /// a descriptor smaller than the v1.0 layout.
    pub descriptor_size: u32,
    /// Reserved, zero. Keeps the pointers below 8-byte aligned in C and Rust.
    pub reserved: u32,
    /// Text: the plugin's name, how the host config refers to it: one or
    /// more of `A-Z a-z 0-9 _ -` ([`crate::is_valid_plugin_name`]). Static.
    pub name: Bytes,
    /// Text: the plugin's own version, for operators. Static.
    pub version: Bytes,
    pub init: Option<InitFn>,
    pub handle: Option<HandleFn>,
    pub shutdown: Option<ShutdownFn>,
}

// SAFETY: the descriptor is immutable static data (text and function pointers).
unsafe impl Sync for PluginDescriptor {}
unsafe impl Send for PluginDescriptor {}

/// The entry symbol's signature: returns a pointer to the plugin's static
/// descriptor, or NULL if the plugin cannot run in this process at all.
/// Called once per load, on a control thread, before anything else.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginDescriptor;
