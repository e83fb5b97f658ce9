//! variantd: A/B tests at the routing layer.
//!
//! The request path: [`http`] (the built-in endpoints and the entry every
//! request takes) → [`snapshot`] (one immutable view per request) →
//! [`request`] (route, user, decision, dispatch, shaping) → [`backends`]
//! (a plugin or a remote app) → [`telemetry`] (metrics and access log).
//!
//! The control path: [`control`] (config, file watching, reload: load and
//! validate config, plugins and specs) → publish a new snapshot.
//!
//! Beside them, private to the daemon: `results` (the results engine behind
//! `/results` and `/ui`) and `tls` (the listener's and upstreams' TLS).

#![deny(unsafe_op_in_unsafe_fn)]

// What the binary runs.
pub mod cli;
pub mod commands;
pub mod server;

// The steps, public where tests and benches drive them directly.
pub mod backends;
pub mod control;
pub mod http;
pub mod request;
pub mod snapshot;
pub mod telemetry;

mod results;
mod tls;
mod util;
