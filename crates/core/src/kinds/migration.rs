//! Live migrations: a NATS JetStream source (a self-hosted server in a customer's VPC, or
//! another cluster) copied into a managed NATS cluster while both run. The replicator
//! (`crates/migrate`) runs inside the target cluster's network, at an address of its own
//! (`worker_ip`), and may open connections only to the source's addresses and ports
//! (`egress`), and only while the migration exists. Owned by its target cluster, whose
//! deletion takes the migration down with it (the replicator stops; the copied streams
//! stay in the cluster).
//!
//! The status follows the engine's phase: `copying → live → ready_for_cutover → cut_over
//! → completed`, or `error` with the reason. `progress` is what the engine last reported.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::EgressRule;
pub use super::migration_transform::{MigrationTransform, SubjectRename};
use crate::object::{KindInfo, OnOwnerDelete, Owner, Settled, StatusMachine};
use crate::state::status_enum;
use crate::{ClusterId, CoreError, MigrationId, NetworkId, ProjectId};

pub use super::migration_rules::{new_migration, update_migration, MAX_PARTITIONS, MAX_URLS};

status_enum!(
    /// The engine's phases, plus the lifecycle around them.
    MigrationStatus, "migration" {
        Provisioning => "provisioning",
        Copying => "copying",
        Live => "live",
        ReadyForCutover => "ready_for_cutover",
        CutOver => "cut_over",
        Completed => "completed",
        Error => "error",
        Deleting => "deleting",
        Deleted => "deleted",
    }
);

impl MigrationStatus {
    pub fn allowed_next(self) -> &'static [MigrationStatus] {
        use MigrationStatus::*;
        match self {
            // A running copy moves between its phases either way (ready_for_cutover flips
            // back to live while writers append; a restarted replicator copies again).
            Provisioning | Copying | Live | ReadyForCutover => &[
                Provisioning,
                Copying,
                Live,
                ReadyForCutover,
                CutOver,
                Error,
                Deleting,
            ],
            CutOver => &[Completed, Error, Deleting],
            Completed => &[Deleting],
            // A failure that clears (the source is back) resumes from the target.
            Error => &[Provisioning, Copying, Live, ReadyForCutover, Deleting],
            Deleting => &[Deleted, Error],
            Deleted => &[],
        }
    }

    /// Settled once the copy has caught up (`live` and after): `--wait` returns there.
    pub fn phase(self) -> Settled {
        use MigrationStatus::*;
        match self {
            Live | ReadyForCutover | CutOver | Completed | Deleted => Settled::Done,
            Error => Settled::Failed,
            Provisioning | Copying | Deleting => Settled::Moving,
        }
    }

    /// The status of an engine phase name (`copying`, `live`, …).
    pub fn of_phase(phase: &str) -> Option<MigrationStatus> {
        use MigrationStatus::*;
        Some(match phase {
            "copying" => Copying,
            "live" => Live,
            "ready_for_cutover" => ReadyForCutover,
            "cut_over" => CutOver,
            "completed" => Completed,
            "failed" => Error,
            _ => return None,
        })
    }
}

/// How the replicator signs in to the source, as a create request gives it. Write-only:
/// the object keeps only [`CredentialsSet`]; the server stores the secret apart from the
/// object (see the server's `migrations` runner) so that no read path returns it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum SourceCredentials {
    UserPassword { user: String, password: String },
    Token { token: String },
}

impl SourceCredentials {
    /// What the object shows of them.
    pub fn shown(&self) -> CredentialsSet {
        CredentialsSet {
            set: true,
            kind: match self {
                SourceCredentials::UserPassword { .. } => "user_password",
                SourceCredentials::Token { .. } => "token",
            }
            .into(),
        }
    }
}

/// Never prints the secret (a request may end up in a log line).
impl fmt::Debug for SourceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceCredentials({}, redacted)", self.shown().kind)
    }
}

/// What a migration shows of its source credentials: that they are set, and their kind
/// (`user_password` or `token`), never the secret. Reading is lenient (no unknown-field
/// refusal, `set` defaults to true) so that an object stored before credentials became
/// write-only still loads, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CredentialsSet {
    #[serde(default = "yes")]
    pub set: bool,
    pub kind: String,
}

fn yes() -> bool {
    true
}

/// The source as a create request gives it (with the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationSourceCreate {
    /// `nats://address:port` or `tls://address:port`, 1…16 of them; the address is an IPv4
    /// address, because the egress is opened to exactly these addresses and ports.
    pub urls: Vec<String>,
    /// The CA certificate (PEM) the source's servers are verified with.
    #[serde(default)]
    pub ca_certificate: Option<String>,
    /// Write-only: stored apart from the migration and never returned.
    #[serde(default)]
    pub credentials: Option<SourceCredentials>,
}

/// The source as the migration shows it: the credentials only as `{"set": true, ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationSource {
    pub urls: Vec<String>,
    #[serde(default)]
    pub ca_certificate: Option<String>,
    #[serde(default)]
    pub credentials: Option<CredentialsSet>,
}

impl MigrationSourceCreate {
    /// What the object keeps: everything but the secret.
    pub fn shown(&self) -> MigrationSource {
        MigrationSource {
            urls: self.urls.clone(),
            ca_certificate: self.ca_certificate.clone(),
            credentials: self.credentials.as_ref().map(SourceCredentials::shown),
        }
    }
}

/// How events are written to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum MigrationMode {
    /// One writer per stream: the target keeps the source's global order.
    Ordered,
    /// Writers by subject hash: each subject keeps its order.
    Partitioned { partitions: usize },
}

/// Which source messages are not copied (each skipped message counted under its reason).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationFilters {
    /// When not empty, only subjects matching one of these NATS patterns are copied.
    #[serde(default)]
    pub include_subjects: Vec<String>,
    #[serde(default)]
    pub exclude_subjects: Vec<String>,
    /// Messages carrying one of these header values (`name` → `value`) are not copied.
    #[serde(default)]
    pub exclude_headers: BTreeMap<String, String>,
}

/// One stream's progress, as the engine last reported it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StreamProgress {
    pub stream: String,
    pub source_first_seq: u64,
    /// The source's last message still there.
    pub source_end_seq: u64,
    /// Every source message up to here is in the target.
    pub copied_through: u64,
    pub target_last_seq: u64,
    /// Source sequences never delivered (deleted or purged in the source).
    pub source_gaps: u64,
    /// Messages the filters skipped, per reason.
    #[serde(default)]
    pub filtered: BTreeMap<String, u64>,
}

/// What the engine last reported: positions, lag, rates, ETA, and why it is degraded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MigrationProgress {
    /// The engine's phase (`copying`, `live`, `ready_for_cutover`, …, `failed`).
    pub phase: String,
    pub streams: Vec<StreamProgress>,
    pub lag_events: u64,
    pub lag_seconds: f64,
    /// Copied events per second.
    pub rate: f64,
    /// Events per second the source is written at.
    pub source_rate: f64,
    pub eta_seconds: Option<f64>,
    /// "Will it ever finish": set when the source is written as fast as it is copied.
    pub warning: Option<String>,
    /// Set while the stall watchdog sees no progress with events to copy.
    pub degraded: Option<String>,
    /// Why the engine failed (phase `failed`), e.g. a purged source with the expected and
    /// first available positions.
    #[serde(default)]
    pub reason: Option<String>,
    /// When the engine wrote this (RFC 3339).
    pub reported_at: Option<String>,
    /// Lag and rates over the last ten minutes, one sample per five seconds (kept by the
    /// controller, see `migration_history`): the console's chart.
    #[serde(default)]
    pub history: Vec<super::migration_history::ProgressSample>,
}

crate::kind_struct! {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
    pub struct Migration {
        pub id: MigrationId,
        pub project_id: ProjectId,
        pub name: String,
        pub target_cluster_id: ClusterId,
        /// The target cluster's network: where the replicator runs.
        pub network_id: NetworkId,
        pub source: MigrationSource,
        /// Streams to copy; all of the source's when empty.
        pub streams: Vec<String>,
        pub mode: MigrationMode,
        pub filters: MigrationFilters,
        /// Subject renames and a script over headers and payload (none: copied unchanged).
        #[serde(default)]
        pub transform: Option<MigrationTransform>,
        /// The replicator's own address in the target network.
        #[schema(value_type = String)]
        pub worker_ip: Ipv4Addr,
        /// The only destinations the replicator may connect to outside the cluster: the
        /// source's addresses and ports. Opened while the migration exists.
        pub egress: Vec<EgressRule>,
        pub status: MigrationStatus,
        pub status_message: String,
        #[serde(default)]
        pub progress: MigrationProgress,
        /// The cut-over's report (per consumer: source ack floor, target start, lag).
        #[serde(default)]
        #[schema(value_type = Option<Object>)]
        pub cutover: Option<serde_json::Value>,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationCreate {
    pub name: String,
    pub target_cluster_id: String,
    pub source: MigrationSourceCreate,
    #[serde(default)]
    pub streams: Vec<String>,
    #[serde(default = "ordered")]
    pub mode: MigrationMode,
    #[serde(default)]
    pub filters: MigrationFilters,
    /// Subject renames and a script over headers and payload.
    #[serde(default)]
    pub transform: Option<MigrationTransform>,
}

fn ordered() -> MigrationMode {
    MigrationMode::Ordered
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationUpdate {
    pub name: Option<String>,
}

crate::object!(
    Migration,
    MigrationStatus,
    KindInfo {
        name: "migration",
        plural: "migrations",
        owner: Some(Owner {
            kind: "cluster",
            field: "target_cluster_id",
            on_delete: OnOwnerDelete::Cascade,
        }),
    },
    owner = |m| Some(m.target_cluster_id.0),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Object;

    #[test]
    fn every_live_state_can_be_deleted_and_phases_settle_once_caught_up() {
        for s in MigrationStatus::ALL.iter().filter(|s| s.is_live()) {
            assert!(s.transition(MigrationStatus::Deleting).is_ok(), "{s}");
        }
        assert_eq!(MigrationStatus::Copying.phase(), Settled::Moving);
        assert_eq!(MigrationStatus::Live.phase(), Settled::Done);
        assert_eq!(MigrationStatus::Error.phase(), Settled::Failed);
        assert!(MigrationStatus::Completed
            .transition(MigrationStatus::Copying)
            .is_err());
        assert_eq!(
            MigrationStatus::of_phase("ready_for_cutover"),
            Some(MigrationStatus::ReadyForCutover)
        );
        assert_eq!(MigrationStatus::DELETED.phase(), Settled::Done);
    }

    #[test]
    fn a_migration_goes_down_with_its_target_cluster() {
        let owner = Migration::INFO.owner.unwrap();
        assert_eq!(
            (owner.kind, owner.on_delete),
            ("cluster", OnOwnerDelete::Cascade)
        );
    }

    #[test]
    fn credentials_are_write_only() {
        let req: MigrationCreate = serde_json::from_value(serde_json::json!({
            "name": "m", "target_cluster_id": "x",
            "source": {"urls": ["nats://10.1.0.5:4222"],
                       "credentials": {"kind": "user_password", "user": "app", "password": "pw-s3cret"}}
        }))
        .unwrap();
        let shown = serde_json::to_string(&req.source.shown()).unwrap();
        assert!(!shown.contains("pw-s3cret"), "{shown}");
        assert!(
            shown.contains(r#""credentials":{"set":true,"kind":"user_password"}"#),
            "{shown}"
        );
        assert!(!format!("{req:?}").contains("pw-s3cret"));
        // An object stored before credentials became write-only loads without its secret.
        let legacy: MigrationSource = serde_json::from_value(serde_json::json!({
            "urls": ["nats://10.1.0.5:4222"], "credentials": {"kind": "token", "token": "t0k"}
        }))
        .unwrap();
        let again = serde_json::to_string(&legacy).unwrap();
        assert!(!again.contains("t0k"), "{again}");
    }
}
