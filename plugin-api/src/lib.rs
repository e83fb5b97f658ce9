//! # variantd plugin API
//!
//! The contract between the variantd daemon and its variant plugins (shared
//! libraries loaded at run time), in three layers:
//!
//! | Item | What it is |
//! |------|------------|
//! | [`abi`] | ABI v1: the raw `#[repr(C)]` types, constants and hook signatures. The contract. Mirrors `include/variantd_plugin.h` field by field (checked by `tests/layout.rs`). |
//! | [`sdk`] | A safe Rust SDK over it: implement [`Plugin`], call [`export_plugin!`]. |
//! | [`C_HEADER`] | The C header, `include/variantd_plugin.h`, for plugins written in C. |
//!
//! A Rust plugin in full:
//!
//! ```no_run
//! use variantd_plugin_api::{export_plugin, InitContext, Plugin, PluginError, Request, Response};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn init(ctx: InitContext<'_>) -> Result<Self, PluginError> {
//!         ctx.host().info("hello plugin ready");
//!         Ok(Hello)
//!     }
//!     fn handle(&self, req: &Request<'_>) -> Result<Response, PluginError> {
//!         Ok(Response::text(200, format!("hello from {}", req.path())))
//!     }
//! }
//!
//! export_plugin!(Hello, name = "hello");
//! ```
//!
//! See `README.md` in this crate for the ownership and threading contract,
//! C plugins and the rules for evolving the ABI.

pub mod abi;
pub mod sdk;

pub use sdk::{
    percent_decode, ErrorKind, Header, Host, InitContext, Level, Plugin, PluginError, Request,
    Response, RouteParams,
};

/// This crate's version, as `plugin new` writes it into a project's manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Re-exported so plugins (and [`export_plugin!`]) can name the exact
/// `serde_json` version the SDK's `Value`s come from.
pub use serde_json;

/// The C header of ABI v1 (`include/variantd_plugin.h`), verbatim.
pub const C_HEADER: &str = include_str!("../include/variantd_plugin.h");

/// Compiles the Rust examples of `README.md` as doctests, so they stay real.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
