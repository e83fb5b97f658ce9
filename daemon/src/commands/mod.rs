//! The subcommands: tools that do one job and exit. Each returns its exit
//! status; errors carry context for the one line `main` prints.

pub mod check;
mod explain;
mod plugin;
mod results;
mod specs;

use crate::cli::{Command, DaemonArgs};

/// Run `command`; the process's exit code.
pub async fn run(command: Command, daemon: &DaemonArgs) -> anyhow::Result<i32> {
    match command {
        Command::Explain(args) => explain::run(args, daemon).await,
        Command::Specs { action } => specs::run(action, daemon).await,
        Command::Results(args) => results::run(args, daemon),
        Command::Plugin { action } => plugin::run(action, daemon),
    }
}
