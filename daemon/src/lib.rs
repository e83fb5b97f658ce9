//! variantd: A/B tests at the routing layer.
//!
//! The request path, one module per step:
//! [`http`] (thin actix handlers) → [`snapshot`] (one immutable view per
//! request) → [`user`] (request → Statsig user) → [`decide`] (Statsig, cached)
//! → [`dispatch`] (a [`plugin_host`] plugin or a [`remote`] app) →
//! [`shaping`] (envelope or transparent) → [`metrics`] and access log.
//!
//! The control path: [`watch`] and signals → [`control`] (load + validate
//! [`config`], plugins and specs) → publish a new snapshot.

pub mod cli;
pub mod commands;
pub mod config;
pub mod control;
pub mod decide;
pub mod dispatch;
pub mod http;
pub mod metrics;
pub mod plugin_host;
pub mod remote;
pub mod results;
pub mod server;
pub mod shaping;
pub mod snapshot;
pub mod telemetry;
pub mod tls;
pub mod user;
pub mod util;
pub mod watch;
