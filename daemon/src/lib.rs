//! variantd: A/B tests at the routing layer.
//!
//! The request path: [`http`] (the built-in endpoints and the entry every
//! request takes) → [`snapshot`] (one immutable view per request) →
//! [`request`] (route, user, decision, dispatch, shaping) → [`backends`]
//! (a plugin or a remote app) → [`telemetry`] (metrics and access log).
//!
//! The control path: [`control`] (config, file watching, reload: load and
//! validate config, plugins and specs) → publish a new snapshot.

pub mod backends;
pub mod cli;
pub mod commands;
pub mod control;
pub mod http;
pub mod request;
pub mod results;
pub mod server;
pub mod snapshot;
pub mod telemetry;
pub mod tls;
pub mod util;
