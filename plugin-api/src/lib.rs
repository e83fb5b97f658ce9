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

#![deny(unsafe_op_in_unsafe_fn)]

pub mod abi;
pub mod sdk;

pub use sdk::{
    percent_decode, ErrorKind, Header, Host, InitContext, Level, Plugin, PluginError, Request,
    Response, RouteParams,
};

/// This crate's version, as `plugin new` writes it into a project's manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether `name` may name a plugin: one or more of `A-Z a-z 0-9 _ -`. The
/// host refuses a descriptor whose name breaks this rule, and
/// [`export_plugin!`] refuses to compile one. The name appears in config,
/// log fields and metric labels, so it is kept to characters none of them
/// must escape.
pub const fn is_valid_plugin_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// Re-exported so plugins (and [`export_plugin!`]) can name the exact
/// `serde_json` version the SDK's `Value`s come from.
pub use serde_json;

/// The C header of ABI v1 (`include/variantd_plugin.h`), verbatim.
pub const C_HEADER: &str = include_str!("../include/variantd_plugin.h");

/// Compiles the Rust examples of `README.md` as doctests, so they stay real.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::is_valid_plugin_name;

    #[test]
    fn plugin_names_are_letters_digits_underscores_and_hyphens() {
        for good in ["app_a", "app-b", "A1", "x", "swapper_2"] {
            assert!(is_valid_plugin_name(good), "{good}");
        }
        for bad in ["", "app a", "app.a", "app/a", "é", "a\0", "app_a\n", "{x}"] {
            assert!(!is_valid_plugin_name(bad), "{bad:?}");
        }
    }
}
