//! Errors of the decision engine.

use std::path::PathBuf;

/// Everything that can go wrong when starting the engine or (re)loading specs.
///
/// Deciding never fails: an unknown gate, missing specs or an unreachable
/// Statsig all yield the spec's default variant, with the reason in the
/// [`Decision`](crate::Decision).
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// The specs file could not be read (missing, permissions, ...).
    // The reason is in the message, so it is not also a `source`: chains
    // printed with `{:#}` would say it twice.
    #[error("cannot read specs file {}: {reason}", path.display())]
    SpecsRead {
        path: PathBuf,
        reason: std::io::Error,
    },

    /// The definitions file (`specs_path` ending in `.toml`) is unreadable or
    /// invalid; the message names file:line:column and the key.
    #[error(transparent)]
    Definitions(#[from] crate::definitions::DefinitionsError),

    /// The document is not JSON, or not a dcs-v2 specs document.
    #[error("invalid specs: {0}")]
    InvalidSpecs(String),

    /// The document is older than the specs already loaded; statsig would ignore it.
    #[error("specs time {offered} is older than the loaded specs time {loaded}; bump \"time\" to replace them")]
    StaleSpecs { offered: u64, loaded: u64 },

    /// statsig-rust refused the document (its own parser or store).
    #[error("statsig rejected the specs: {0}")]
    Rejected(String),

    /// statsig-rust failed to start.
    #[error("statsig failed to start: {0}")]
    Startup(String),
}
