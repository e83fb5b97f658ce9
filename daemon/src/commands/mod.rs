//! The subcommands: tools that do one job and exit. Each returns its exit
//! status; errors carry context for the one line `main` prints.

mod specs;

use crate::cli::{Command, DaemonArgs};

/// Run `command`; the process's exit code.
pub async fn run(command: Command, daemon: &DaemonArgs) -> anyhow::Result<i32> {
    match command {
        Command::Specs { action } => specs::run(action, daemon).await,
    }
}
