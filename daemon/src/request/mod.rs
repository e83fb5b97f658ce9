//! The request path, one step per module: [`path`] (the path as variants
//! get it) → [`routed`] (the matched route: build the [`user`], [`decide`])
//! or [`direct`] (a variant looked up by name) → [`serve`] (the one serve
//! path: [`body`], the backend's view, [`dispatch`] — the policy above
//! backends — and [`shaping`], envelope or transparent).

pub mod body;
pub mod decide;
pub mod direct;
pub mod dispatch;
pub mod path;
pub mod routed;
pub mod serve;
pub mod shaping;
pub mod user;
