//! What answers a request once a variant is chosen: a [`plugin`] loaded
//! through the stable ABI, or a [`remote`] app reached over HTTP(S).

pub mod plugin;
pub mod remote;
