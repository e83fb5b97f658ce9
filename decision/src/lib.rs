//! # variantd-decision
//!
//! The decision engine of variantd, and the **only** place in the project that
//! knows `statsig-rust`. It knows nothing of HTTP, actix or plugins: a user and a
//! decision spec go in, a variant name and the reason why come out.
//!
//! Table of contents:
//!
//! | module          | responsibility                                                       |
//! |-----------------|----------------------------------------------------------------------|
//! | [`settings`]    | how the engine is configured ([`StatsigSettings`], [`SecretKey`])     |
//! | [`model`]       | the vocabulary: users, decision specs, decisions, events              |
//! | [`engine`]      | [`DecisionEngine`]: start, decide, reload, log, flush, shut down      |
//! | [`status`]      | [`EngineStatus`], what the engine reports about itself                |
//! | [`specs`]       | validating a dcs-v2 specs document before statsig sees it             |
//! | [`definitions`] | gates/experiments/configs in TOML, turned into a dcs-v2 document      |
//! | [`describe`]    | a dcs-v2 document in plain words (`variantd specs show`)              |
//! | [`pull`]        | downloading Statsig's specs into a file (`variantd specs pull`)       |
//! | `exposures`     | the offline JSONL file that receives exposures and custom events      |
//! | `live`          | live mode: local file first, then Statsig's network                   |
//! | `statsig_log`   | statsig's own log output, routed to `tracing`                         |
//! | [`error`]       | [`DecisionError`]                                                     |

pub mod definitions;
pub mod describe;
pub mod engine;
pub mod error;
mod exposures;
mod live;
pub mod model;
pub mod pull;
pub mod settings;
pub mod specs;
mod statsig_log;
pub mod status;

pub use definitions::{build_specs_from_file, is_definitions_file, Definitions, DefinitionsError};
pub use describe::{describe_specs, DescribeError};
pub use engine::{check_specs_source, DecisionEngine};
pub use error::DecisionError;
pub use exposures::Rotation;
pub use model::{Decision, DecisionKind, DecisionSpec, EventValue, TopLevelField, UserContext};
pub use pull::{pull_specs, PullError};
pub use settings::{SecretKey, StatsigSettings};
pub use specs::SpecsInfo;
pub use status::EngineStatus;
