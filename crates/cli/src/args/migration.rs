//! `isthmus migration …`: copy a NATS JetStream source into a managed cluster while both
//! run, then cut over.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use isthmus_core::kinds::migration::Migration;

use super::verbs::Verbs;
use super::WaitArgs;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// One writer per stream: the target keeps the source's order.
    Ordered,
    /// Writers by subject hash: each subject keeps its order.
    Partitioned,
}

#[derive(Debug, Subcommand)]
pub enum MigrationCommand {
    /// Start copying a source into a NATS cluster (`--wait`: until caught up).
    Create(Box<CreateArgs>),
    /// The exact target position of a source position.
    Translate {
        id: String,
        #[arg(long)]
        stream: String,
        /// The source stream sequence (repeat for several; one answer line each).
        #[arg(long, required = true)]
        seq: Vec<u64>,
    },
    /// Compare source and target: digests per range, counts per subject, first difference.
    Verify { id: String },
    /// Wait for the source's end in the target, then move the durable consumers.
    Cutover {
        id: String,
        /// Give up waiting for the source's end after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Whether the replicator reaches its source (or `--to`), hop by hop, and why not.
    Reach {
        id: String,
        /// An IPv4 address to ask about instead of the source URLs.
        #[arg(long)]
        to: Option<String>,
        /// The TCP port with `--to` (default 4222).
        #[arg(long, requires = "to")]
        port: Option<u16>,
    },
    #[command(flatten)]
    Object(Verbs<Migration>),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    pub name: String,
    /// The target cluster (NATS).
    #[arg(long)]
    pub cluster: String,
    /// A source server URL, `nats://ADDRESS:PORT` or `tls://…` (repeat).
    #[arg(long = "source", required = true)]
    pub sources: Vec<String>,
    /// The CA certificate (PEM file) of the source's servers.
    #[arg(long)]
    pub source_ca: Option<PathBuf>,
    #[arg(long)]
    pub source_user: Option<String>,
    #[arg(long, env = "ISTHMUS_SOURCE_PASSWORD", hide_env_values = true)]
    pub source_password: Option<String>,
    #[arg(long, env = "ISTHMUS_SOURCE_TOKEN", hide_env_values = true)]
    pub source_token: Option<String>,
    /// A stream to copy (repeat; all when absent).
    #[arg(long = "stream")]
    pub streams: Vec<String>,
    #[arg(long, value_enum, default_value = "ordered")]
    pub mode: ModeArg,
    /// Writers in partitioned mode.
    #[arg(long, default_value_t = 8)]
    pub partitions: usize,
    #[arg(long)]
    pub include_subject: Vec<String>,
    #[arg(long)]
    pub exclude_subject: Vec<String>,
    /// `NAME=VALUE`: messages with this header value are not copied.
    #[arg(long)]
    pub exclude_header: Vec<String>,
    /// `FROM=TO`: rename subjects matching pattern FROM to template TO (`$N` the N-th
    /// `*`, a final `>` the rest); repeat, first match wins.
    #[arg(long)]
    pub rename: Vec<String>,
    /// A Rhai script (file) run on every copied message over `headers` and `payload`.
    #[arg(long)]
    pub script_file: Option<PathBuf>,
    #[command(flatten)]
    pub wait: WaitArgs,
}
