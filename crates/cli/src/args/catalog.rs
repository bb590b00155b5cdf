//! `isthmus completions`, `isthmus regions` and `isthmus engines`: offline help for typing
//! the other verbs.

use clap::Args;
use clap_complete::Shell;
use isthmus_core::resources::Provider;

/// `isthmus completions bash|zsh|fish|elvish|powershell`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    pub shell: Shell,
}

/// `isthmus regions [--provider P]`.
#[derive(Debug, Args)]
pub struct RegionsArgs {
    /// Only this provider's regions (aws, gcp, azure, local).
    #[arg(long, value_parser = |s: &str| s.parse::<Provider>())]
    pub provider: Option<Provider>,
}
