//! Live migration of NATS JetStream streams into a managed cluster, by replication.
//!
//! Stream configurations are copied first (and refused when the target would not keep them
//! as asked), then the history, then the live tail through ordered push consumers. Every
//! copied message names its source position in headers, and the target's last message is the
//! checkpoint: a restart, at any point, resumes exactly after what the target holds.
//! `translate` maps source positions to target positions, `verify` compares digests, and
//! `cutover` moves durable consumers to their translated positions.

mod acks;
pub mod checkpoint;
pub mod cli;
pub mod cutover;
pub mod engine;
pub mod filler;
pub mod filters;
pub mod headers;
mod inflight;
mod lastcopy;
mod lowwater;
mod monitor;
mod ordered;
mod partitioned;
pub mod request;
mod run;
pub mod source;
pub mod spec;
pub mod status;
pub mod streams;
pub mod transform;
pub mod translate;
pub mod verify;

pub use engine::{connect, Endpoint, Migration, Mode, Settings, Spec};
pub use filters::Filters;
pub use status::{Phase, Status, StreamStatus};
