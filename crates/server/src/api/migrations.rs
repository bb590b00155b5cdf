//! `/v1/projects/{p}/migrations`: live migrations of NATS JetStream streams into a managed
//! cluster (see docs/migrations.md). Besides the five routes every kind has, a migration
//! translates source positions, verifies the target against the source and cuts over. Each
//! runs the engine once where the replicator runs (inside the target's network, egress
//! open to the source only), never from the API server's own network.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use isthmus_core::kinds::migration::{Migration, MigrationStatus};
use isthmus_core::resources::{Cluster, Network, Provider};
use isthmus_core::CoreError;
use isthmus_store::api::Api;
use isthmus_store::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::problem::{ApiError, ApiResult};
use super::resources::{ApiDocs, ApiKind};
use crate::auth::{InProject, Operator};
use crate::dns_records::PublishesDns;
use crate::state::AppState;

impl ApiKind for Migration {
    const DOCS: ApiDocs = ApiDocs {
        create_conflict: "The target cluster is being deleted",
        updated: "Updated (only the name changes)",
        update_invalid: "Invalid (the field names it)",
        delete_conflict: None,
    };

    /// A script that does not compile is refused here, where the engine is at hand (the
    /// core checks the renames).
    fn check_create(
        _state: &AppState,
        req: &isthmus_core::kinds::migration::MigrationCreate,
    ) -> ApiResult<()> {
        let Some(script) = req.transform.as_ref().and_then(|t| t.script.clone()) else {
            return Ok(());
        };
        let only_script = isthmus_migrate::transform::TransformSpec {
            script: Some(script),
            ..Default::default()
        };
        match isthmus_migrate::transform::Transform::new(&only_script) {
            Ok(_) => Ok(()),
            Err(e) => Err(ApiError::invalid(
                "transform.script",
                "script",
                format!("{e:#}")
                    .trim_start_matches("transform.script: ")
                    .to_string(),
            )),
        }
    }

    /// The source credentials are write-only: the object shows `{"set": true, ...}` and
    /// the secret goes to the replicator runner's store, beside the installation CA.
    fn after_create(
        state: &AppState,
        req: &isthmus_core::kinds::migration::MigrationCreate,
        created: &Migration,
    ) -> ApiResult<()> {
        let (Some(credentials), Some(engines)) = (&req.source.credentials, &state.migrations)
        else {
            // Without a runner (simulated clouds only) nothing is copied and nothing needs
            // the secret, so it is not kept anywhere.
            return Ok(());
        };
        engines
            .store_credentials(created, credentials)
            .map_err(|e| ApiError::internal(format!("{e:#}")))
    }
}

/// A replicator publishes no names.
impl PublishesDns for Migration {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslateRequest {
    pub stream: String,
    /// A source stream sequence.
    #[serde(default)]
    pub seq: Option<u64>,
    /// More source stream sequences (up to 1,000 in all: a request must finish within the
    /// server's time limit): one answer each, in order.
    #[serde(default)]
    pub seqs: Vec<u64>,
}

/// Most positions one translate request maps.
const MAX_TRANSLATE: usize = 1_000;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CutoverRequest {
    /// How long to wait for the source's end position in the target (default 120 s).
    pub timeout_seconds: Option<u64>,
}

/// What the engine answered: its JSON lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct EngineAnswer {
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<serde_json::Value>,
}

/// The migration, its target cluster, and the runner of its engine (local only).
async fn load(
    state: &AppState,
    access: &InProject<Operator>,
    raw_id: &str,
) -> ApiResult<(
    Migration,
    Cluster,
    std::sync::Arc<crate::migrations::EngineRunner>,
)> {
    let m: Migration = Api::new(state.store.docs())
        .find(access.project, raw_id)
        .await?;
    let cluster: Cluster = Api::new(state.store.docs())
        .get(access.project, m.target_cluster_id.0)
        .await?;
    let network: Network = Api::new(state.store.docs())
        .get(access.project, m.network_id.0)
        .await?;
    let engines = state
        .migrations
        .clone()
        .filter(|_| network.provider == Provider::Local);
    let Some(engines) = engines else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "migration-simulated",
            "this migration's replicator is modelled without packets (a simulated cloud, or a \
             server without the local provider): there are no events to translate, verify or cut over",
        ));
    };
    if matches!(
        m.status,
        MigrationStatus::Provisioning | MigrationStatus::Deleting | MigrationStatus::Deleted
    ) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "migration-not-running",
            format!(
                "migration {} is {}; its replicator is not placed",
                m.id, m.status
            ),
        ));
    }
    Ok((m, cluster, engines))
}

fn engine_error(verb: &str) -> impl FnOnce(anyhow::Error) -> ApiError + '_ {
    move |e| {
        ApiError::new(
            StatusCode::CONFLICT,
            &format!("migration-{verb}-failed"),
            format!("{e:#}"),
        )
    }
}

/// Maps a source position (stream and sequence) to the exact target position.
#[utoipa::path(post, path = "/v1/projects/{p}/migrations/{id}/translate", tag = "migrations",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Migration id or name")),
    request_body = TranslateRequest,
    responses((status = 200, description = "The target position", body = EngineAnswer),
        (status = 409, description = "Not running, simulated, or the engine refused (the detail says why)")),
    security(("bearer" = [])))]
pub async fn translate(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    Json(req): Json<TranslateRequest>,
) -> ApiResult<Json<EngineAnswer>> {
    let seqs: Vec<String> = req
        .seq
        .iter()
        .chain(&req.seqs)
        .map(u64::to_string)
        .collect();
    if seqs.is_empty() || seqs.len() > MAX_TRANSLATE {
        return Err(ApiError::invalid(
            "seqs",
            "count",
            format!("give 1 to {MAX_TRANSLATE} source sequences (`seq` and `seqs`)"),
        ));
    }
    let (m, cluster, engines) = load(&state, &access, &path.1).await?;
    let mut verb = vec!["translate", "--stream", req.stream.as_str()];
    for seq in &seqs {
        verb.extend(["--seq", seq.as_str()]);
    }
    let results = engines
        .once(&m, &cluster, &verb, Duration::from_secs(60))
        .await
        .map_err(engine_error("translate"))?;
    Ok(Json(EngineAnswer { results }))
}

/// Compares source and target: digests per range, counts per subject, the first difference.
#[utoipa::path(post, path = "/v1/projects/{p}/migrations/{id}/verify", tag = "migrations",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Migration id or name")),
    responses((status = 200, description = "One report per stream (`equal`, first difference)", body = EngineAnswer),
        (status = 409, description = "Not running, or simulated")),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
) -> ApiResult<Json<EngineAnswer>> {
    let (m, cluster, engines) = load(&state, &access, &path.1).await?;
    let results = engines
        .once(&m, &cluster, &["verify"], Duration::from_secs(300))
        .await
        .map_err(engine_error("verify"))?;
    Ok(Json(EngineAnswer { results }))
}

/// Waits until the source's end position is in the target, recreates the source's durable
/// consumers on the target at their translated positions, and reports per consumer the
/// proof (source ack floor, target start, lag). The migration then completes.
#[utoipa::path(post, path = "/v1/projects/{p}/migrations/{id}/cutover", tag = "migrations",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "Migration id or name")),
    request_body = CutoverRequest,
    responses((status = 200, description = "Cut over: the migration with its report", body = Migration),
        (status = 409, description = "Not running, simulated, or the cut-over was refused (will not catch up, timeout)")),
    security(("bearer" = [])))]
pub async fn cutover(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    body: Option<Json<CutoverRequest>>,
) -> ApiResult<Json<Migration>> {
    let (m, cluster, engines) = load(&state, &access, &path.1).await?;
    let timeout = body.and_then(|b| b.0.timeout_seconds).unwrap_or(120);
    let arg = timeout.to_string();
    let results = engines
        .once(
            &m,
            &cluster,
            &["cutover", "--timeout", arg.as_str()],
            Duration::from_secs(timeout + 30),
        )
        .await
        .map_err(engine_error("cutover"))?;
    // The engine prints the report, then its final status. The controller keeps writing
    // progress (positions, rates) while the engine runs, so a version conflict here only
    // means a newer progress status landed: read it again and write the cut-over on top.
    let api = Api::<Migration>::new(state.store.docs());
    let mut attempts = 0;
    let saved = loop {
        let mut next: Migration = api.get(access.project, m.id.0).await?;
        next.cutover = results.first().cloned();
        next.status = MigrationStatus::CutOver;
        next.status_message = "cut over; stopping the replicator".into();
        match api.save_status(&access.actor(), &next).await {
            Err(StoreError::Core(CoreError::VersionMismatch { .. })) if attempts < 10 => {
                attempts += 1
            }
            other => break other?,
        }
    };
    state.enqueue::<Migration>(saved.id.0);
    Ok(Json(saved))
}
