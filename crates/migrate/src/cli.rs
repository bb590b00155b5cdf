//! The replicator as a process: what the platform launches inside the target cluster's
//! network (egress open only to the source), and what an operator or a lab demo runs by hand.
//! The `isthmus-migrate` binary and `isthmus migrate-engine` both run [`main_from`].
//! `run` copies until stopped, printing its status as one JSON line per interval; `cutover`
//! starts a replicator beside any running one (they cannot interleave), waits for the
//! source's end position and moves the durable consumers; `translate` and `verify` read
//! both sides; `fill` and `write` are the lab's event source.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::filler::{fill, SteadyWriter};
use crate::{connect, Endpoint, Filters, Migration, Mode, Settings, Spec};
use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "isthmus-migrate",
    bin_name = "isthmus-migrate",
    about = "Live migration of NATS JetStream streams by replication"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Copy configurations, history and the live tail until stopped.
    Run(RunArgs),
    /// Wait until the source's end is in the target, then move the durable consumers.
    Cutover {
        #[command(flatten)]
        run: RunArgs,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// The target position of a source position.
    Translate {
        #[command(flatten)]
        run: RunArgs,
        /// A source sequence (repeat: one answer line each, in order).
        #[arg(long, required = true)]
        seq: Vec<u64>,
    },
    /// Compare source and target: digests per range, counts per subject, first difference.
    Verify(RunArgs),
    /// Fill a source stream with events (created when missing).
    Fill {
        #[command(flatten)]
        events: EventArgs,
        #[arg(long, default_value_t = 10_000)]
        count: u64,
    },
    /// Keep appending events at a steady rate until interrupted.
    Write {
        #[command(flatten)]
        events: EventArgs,
        /// Events per second.
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Ordered,
    Partitioned,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Source server URLs (comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    source: Vec<String>,
    #[arg(long)]
    source_ca: Option<std::path::PathBuf>,
    #[arg(long)]
    source_user: Option<String>,
    #[arg(long, env = "ISTHMUS_SOURCE_PASSWORD", hide_env_values = true)]
    source_password: Option<String>,
    #[arg(long, env = "ISTHMUS_SOURCE_TOKEN", hide_env_values = true)]
    source_token: Option<String>,
    /// Target server URLs (comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    target: Vec<String>,
    #[arg(long)]
    target_ca: Option<std::path::PathBuf>,
    /// Streams to copy (repeat; all when absent).
    #[arg(long = "stream")]
    streams: Vec<String>,
    #[arg(long, value_enum, default_value = "ordered")]
    mode: ModeArg,
    #[arg(long, default_value_t = 8)]
    partitions: usize,
    #[arg(long)]
    include_subject: Vec<String>,
    #[arg(long)]
    exclude_subject: Vec<String>,
    /// `NAME=VALUE`: messages with this header value are not copied.
    #[arg(long)]
    exclude_header: Vec<String>,
    /// A JSON file with the transform: `{"subjects": [{"from", "to"}], "script": "…"}`.
    #[arg(long)]
    transform_file: Option<std::path::PathBuf>,
    /// Seconds between status lines.
    #[arg(long, default_value_t = 1.0)]
    status_every: f64,
    /// Also write each status, atomically, to this file (what the platform's controller reads).
    #[arg(long)]
    status_file: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct EventArgs {
    /// Server URLs (comma-separated: the nodes of a cluster).
    #[arg(long, value_delimiter = ',', required = true)]
    server: Vec<String>,
    #[arg(long)]
    stream: String,
    /// Events go round-robin to `<stream in lower case>.s0 … .s<subjects-1>`.
    #[arg(long, default_value_t = 16)]
    subjects: usize,
    /// Payload bytes.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Replicas of the stream when it is created (a cluster's nodes hold one each).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
}

impl RunArgs {
    fn spec(&self) -> anyhow::Result<Spec> {
        let mut exclude_headers = BTreeMap::new();
        for pair in &self.exclude_header {
            let Some((name, value)) = pair.split_once('=') else {
                bail!("--exclude-header {pair:?}: expected NAME=VALUE");
            };
            exclude_headers.insert(name.to_string(), value.to_string());
        }
        if matches!(self.mode, ModeArg::Partitioned) && self.partitions == 0 {
            bail!("--partitions: must be at least 1");
        }
        Ok(Spec {
            source: Endpoint {
                urls: self.source.clone(),
                ca_file: self.source_ca.clone(),
                user: self.source_user.clone(),
                password: self.source_password.clone(),
                token: self.source_token.clone(),
            },
            target: Endpoint {
                urls: self.target.clone(),
                ca_file: self.target_ca.clone(),
                ..Default::default()
            },
            streams: self.streams.clone(),
            mode: match self.mode {
                ModeArg::Ordered => Mode::Ordered,
                ModeArg::Partitioned => Mode::Partitioned {
                    partitions: self.partitions,
                },
            },
            filters: Filters {
                include_subjects: self.include_subject.clone(),
                exclude_subjects: self.exclude_subject.clone(),
                exclude_headers,
            },
            transform: match &self.transform_file {
                None => Default::default(),
                Some(path) => serde_json::from_slice(
                    &std::fs::read(path)
                        .with_context(|| format!("--transform-file {}", path.display()))?,
                )
                .with_context(|| format!("--transform-file {}", path.display()))?,
            },
            settings: Settings::default(),
            carried: self.carried(),
        })
    }

    /// The filter counts the previous engine of this migration left in the status file.
    fn carried(&self) -> BTreeMap<String, (u64, BTreeMap<String, u64>)> {
        let Some(status) = self
            .status_file
            .as_ref()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|text| serde_json::from_slice::<serde_json::Value>(&text).ok())
        else {
            return BTreeMap::new();
        };
        let streams = status["streams"].as_array().cloned().unwrap_or_default();
        streams
            .iter()
            .filter_map(|s| {
                let name = s["stream"].as_str()?.to_string();
                let through = s["copied_through"].as_u64()?;
                let filtered = serde_json::from_value(s["filtered"].clone()).ok()?;
                Some((name, (through, filtered)))
            })
            .collect()
    }
}

fn print(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// Writes `status` with the time it was taken to `path` through a temporary file and a
/// rename, so a reader never sees half a status.
fn write_status(path: &std::path::Path, status: &crate::Status) -> anyhow::Result<()> {
    let mut value = serde_json::to_value(status)?;
    value["reported_at"] = chrono::Utc::now().to_rfc3339().into();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&value)?)
        .with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))
}

async fn events_target(
    args: &EventArgs,
) -> anyhow::Result<(async_nats::jetstream::Context, Vec<String>)> {
    let client = connect(
        &Endpoint {
            urls: args.server.clone(),
            ..Default::default()
        },
        "isthmus-filler",
    )
    .await?;
    let js = async_nats::jetstream::new(client);
    let prefix = args.stream.to_lowercase();
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: args.stream.clone(),
        subjects: vec![format!("{prefix}.>")],
        num_replicas: args.replicas.max(1),
        ..Default::default()
    })
    .await
    .with_context(|| format!("create stream {}", args.stream))?;
    let subjects = (0..args.subjects.max(1))
        .map(|i| format!("{prefix}.s{i}"))
        .collect();
    Ok((js, subjects))
}

async fn main_result(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            let migration = Migration::start(args.spec()?).await?;
            let mut every =
                tokio::time::interval(Duration::from_secs_f64(args.status_every.max(0.1)));
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        let status = migration.status();
                        print(&status)?;
                        if let Some(path) = &args.status_file {
                            write_status(path, &status)?;
                        }
                    }
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                    _ = terminated() => return Ok(()),
                }
            }
        }
        Command::Cutover { run, timeout } => {
            let mut migration = Migration::start(run.spec()?).await?;
            let report =
                crate::cutover::cutover(&migration, None, Duration::from_secs(timeout)).await?;
            migration.stop();
            print(&report)?;
            print(&migration.status())
        }
        Command::Translate { run, seq } => {
            let spec = run.spec()?;
            let [stream] = spec.streams.as_slice() else {
                bail!("--stream: give exactly one stream to translate a position of");
            };
            let source =
                async_nats::jetstream::new(connect(&spec.source, "isthmus-translate").await?);
            let target =
                async_nats::jetstream::new(connect(&spec.target, "isthmus-translate").await?);
            for seq in seq {
                print(
                    &crate::translate::translate(&source, &target, spec.mode, stream, seq).await?,
                )?;
            }
            Ok(())
        }
        Command::Verify(run) => {
            let spec = run.spec()?;
            let source = async_nats::jetstream::new(connect(&spec.source, "isthmus-verify").await?);
            let target = async_nats::jetstream::new(connect(&spec.target, "isthmus-verify").await?);
            let streams = if spec.streams.is_empty() {
                crate::streams::stream_names(&source).await?
            } else {
                spec.streams.clone()
            };
            let transform = crate::transform::Transform::new(&spec.transform)?;
            let mut equal = true;
            for stream in streams {
                let report = crate::verify::verify_transformed(
                    &source,
                    &target,
                    spec.mode,
                    &spec.filters,
                    &transform,
                    &stream,
                )
                .await?;
                equal &= report.equal;
                print(&report)?;
            }
            if !equal {
                bail!("source and target differ");
            }
            Ok(())
        }
        Command::Fill { events, count } => {
            let (js, subjects) = events_target(&events).await?;
            let stored = fill(&js, &subjects, count, events.size).await?;
            print(&serde_json::json!({"stream": events.stream, "stored": stored}))
        }
        Command::Write { events, rate } => {
            let (js, subjects) = events_target(&events).await?;
            let writer = SteadyWriter::start(js, subjects, rate, events.size);
            tokio::signal::ctrl_c().await?;
            let written = writer.stop().await;
            print(&serde_json::json!({"stream": events.stream, "written": written}))
        }
    }
}

/// SIGTERM: how the platform stops a replicator.
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// Parses `args` (the first is the program name) and runs the command; an error is one
/// line on stderr and exit code 1.
pub async fn main_from<I, T>(args: I)
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    if let Err(error) = main_result(Cli::parse_from(args)).await {
        eprintln!("isthmus-migrate: {error:#}");
        std::process::exit(1);
    }
}
