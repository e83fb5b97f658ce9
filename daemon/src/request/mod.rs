//! The request path, one step per module: [`path`] (the path as variants
//! get it) → [`routed`] (match a route, build the [`user`], [`decide`]) or
//! [`direct`] (look a variant up by name) → [`dispatch`] (the policy above
//! backends: fallback) → [`shaping`] (envelope or transparent).

pub mod decide;
pub mod direct;
pub mod dispatch;
pub mod path;
pub mod routed;
pub mod shaping;
pub mod user;
