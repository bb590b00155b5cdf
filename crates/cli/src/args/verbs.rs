//! The verbs every resource kind has (`list`, `get`, `delete`, `wait`), declared once and
//! given each kind's help lines, flattened into the kind's own subcommands next to its
//! `create` and `update`.

use std::marker::PhantomData;

use clap::{ArgMatches, Command, FromArgMatches, Subcommand};

use super::{TimeoutArgs, WaitArgs};
use crate::kinds::CliKind;

#[derive(Debug, Subcommand)]
pub enum ObjectVerb {
    /// List the project's objects of this kind.
    List {
        /// Include those that are already deleted.
        #[arg(long)]
        include_deleted: bool,
        /// Keep watching: print the list again whenever it changes, until Ctrl-C.
        #[arg(short = 'w', long)]
        watch: bool,
    },
    /// Show one.
    Get {
        /// Its name or id.
        id: String,
        /// Keep watching: print it again whenever it changes, until Ctrl-C.
        #[arg(short = 'w', long)]
        watch: bool,
    },
    /// Delete one.
    Delete {
        /// Its name or id.
        id: String,
        /// Do not ask for confirmation (asked only when stdin is a terminal; scripts and
        /// pipes are never asked).
        #[arg(short = 'y', long)]
        yes: bool,
        /// Also delete what would go down with it (a network's peerings); without it the
        /// server refuses, naming them.
        #[arg(long)]
        cascade: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Wait until it settles.
    Wait {
        /// Its name or id.
        id: String,
        #[command(flatten)]
        timeout: TimeoutArgs,
    },
}

/// [`ObjectVerb`] for the kind `K`: the same arguments, help lines that name the kind.
#[derive(Debug)]
pub struct Verbs<K> {
    pub verb: ObjectVerb,
    kind: PhantomData<fn() -> K>,
}

impl<K: CliKind> Verbs<K> {
    fn described(cmd: Command) -> Command {
        let (name, plural) = (K::INFO.name, K::INFO.plural);
        cmd.mut_subcommand("list", |c| {
            c.about(format!("List the project's {plural}"))
                .mut_arg("include_deleted", |a| {
                    a.help(format!("Include {plural} that are already deleted"))
                })
        })
        .mut_subcommand("get", |c| c.about(K::GET_ABOUT))
        .mut_subcommand("delete", |c| c.about(K::DELETE_ABOUT))
        .mut_subcommand("wait", |c| {
            c.about(format!(
                "Wait until the {name} settles; a failure (such as `error`) exits 1"
            ))
        })
    }
}

impl<K: CliKind> FromArgMatches for Verbs<K> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Verbs {
            verb: ObjectVerb::from_arg_matches(matches)?,
            kind: PhantomData,
        })
    }
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.verb.update_from_arg_matches(matches)
    }
}

impl<K: CliKind> Subcommand for Verbs<K> {
    fn augment_subcommands(cmd: Command) -> Command {
        Self::described(ObjectVerb::augment_subcommands(cmd))
    }
    fn augment_subcommands_for_update(cmd: Command) -> Command {
        Self::described(ObjectVerb::augment_subcommands_for_update(cmd))
    }
    fn has_subcommand(name: &str) -> bool {
        ObjectVerb::has_subcommand(name)
    }
}
