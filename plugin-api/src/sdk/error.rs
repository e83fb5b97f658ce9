use std::fmt;

use crate::abi;

/// Why a plugin hook failed; decides the status code the host sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The config was rejected: `VD_ERR_INVALID_CONFIG`.
    InvalidConfig,
    /// The plugin failed for a reason of its own: `VD_ERR_INTERNAL`.
    Internal,
    /// A resource the plugin needs is unavailable: `VD_ERR_UNAVAILABLE`.
    Unavailable,
}

impl ErrorKind {
    /// The ABI status code for this kind.
    pub const fn status(self) -> abi::Status {
        match self {
            ErrorKind::InvalidConfig => abi::VD_ERR_INVALID_CONFIG,
            ErrorKind::Internal => abi::VD_ERR_INTERNAL,
            ErrorKind::Unavailable => abi::VD_ERR_UNAVAILABLE,
        }
    }
}

/// An error a plugin returns from [`Plugin::init`](crate::Plugin::init) or
/// [`Plugin::handle`](crate::Plugin::handle).
///
/// The SDK logs its message through the host (attributed to the plugin) and
/// returns the matching status code. For expected per-request failures (bad
/// input, not found) return an `Ok` [`Response`](crate::Response) with a 4xx
/// status instead: an `Err` from `handle` becomes a 5xx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginError {
    kind: ErrorKind,
    message: String,
}

impl PluginError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: message.into(),
        }
    }

    /// The config was rejected (`VD_ERR_INVALID_CONFIG`).
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message)
    }

    /// A failure of the plugin's own (`VD_ERR_INTERNAL`).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// A needed resource is unavailable (`VD_ERR_UNAVAILABLE`).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable reason.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The ABI status code the host will see.
    pub fn status(&self) -> abi::Status {
        self.kind.status()
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ErrorKind::InvalidConfig => "invalid config",
            ErrorKind::Internal => "internal error",
            ErrorKind::Unavailable => "unavailable",
        };
        write!(f, "{kind}: {}", self.message)
    }
}

impl std::error::Error for PluginError {}

/// JSON errors are internal failures (use [`PluginError::invalid_config`]
/// explicitly when parsing a config).
impl From<serde_json::Error> for PluginError {
    fn from(e: serde_json::Error) -> Self {
        PluginError::internal(e.to_string())
    }
}

/// I/O errors are reported as "unavailable".
impl From<std::io::Error> for PluginError {
    fn from(e: std::io::Error) -> Self {
        PluginError::unavailable(e.to_string())
    }
}
