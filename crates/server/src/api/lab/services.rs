//! Services on lab hosts: a self-hosted NATS server with JetStream on a host of a lab VPC,
//! standing in for the event store a customer migrates (`isthmus lab service add VPC/HOST
//! nats`), or a three-node JetStream cluster over three hosts of the VPC (`--peers H2,H3`),
//! and a way to fill it with events (the migration engine's filler, run on the host). The
//! server runs each node in its host's namespace, listening on the host's address, and
//! stops them when asked or when the server stops.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use isthmus_core::FieldError;
use isthmus_driver_local::{ExecLimits, MAX_EXEC_OUTPUT};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::services_nats::{self, NodePlan, NodeProcess};
use super::{driver_failure, local_driver, Lab};
use crate::api::body::JsonBody;
use crate::api::problem::{ApiError, ApiResult, Problem};

/// The running services, by (VPC, first host, kind).
static SERVICES: Mutex<BTreeMap<(String, String, String), Running>> = Mutex::new(BTreeMap::new());

struct Running {
    nodes: Vec<NodeProcess>,
    service: LabService,
}

/// Nodes of a lab cluster beside the first: none, or an even number (Raft needs a
/// majority, so a cluster has an odd size), at most four.
const PEER_COUNTS: [usize; 3] = [0, 2, 4];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabServiceCreate {
    /// `nats`: nats-server with JetStream.
    pub kind: String,
    /// The client port (default 4222).
    #[serde(default)]
    pub port: Option<u16>,
    /// Other hosts of the same lab VPC that run further nodes of one clustered service:
    /// two for a three-node JetStream cluster (none, two or four; routes on port 6222).
    #[serde(default)]
    pub peers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabService {
    pub vpc: String,
    /// The first host (the one the service is addressed by).
    pub host: String,
    pub kind: String,
    /// Where clients (and a migration's `source.urls`) reach the first node.
    pub url: String,
    /// Every node's client URL, the first host's first (one for a single node).
    pub urls: Vec<String>,
    /// Every node's host, in the order of `urls`.
    pub hosts: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabServiceFill {
    /// The stream (created when missing, subjects `<stream in lower case>.>`).
    pub stream: String,
    pub count: u64,
    /// Events go round-robin to this many subjects (default 16).
    #[serde(default)]
    pub subjects: Option<usize>,
    /// Payload bytes (default 256).
    #[serde(default)]
    pub size: Option<usize>,
}

/// The host's address and namespace, or a 404.
async fn host_of(lab: &Lab, vpc: &str, host: &str) -> ApiResult<(std::net::Ipv4Addr, String)> {
    let state = lab.superuser()?;
    let driver = local_driver(state)?;
    let lab_vpc = state.store.get_lab_vpc(vpc).await?;
    let ip = lab_vpc
        .hosts
        .iter()
        .find(|h| h.name == host)
        .map(|h| h.ip)
        .ok_or_else(|| ApiError::not_found(format!("lab VPC {vpc} has no host '{host}'")))?;
    let ns = driver
        .lab_host_namespace(vpc, host)
        .map_err(|e| driver_failure("find the host's namespace", e))?;
    Ok((ip, ns))
}

#[utoipa::path(post, path = "/v1/lab/vpcs/{name}/hosts/{host}/services", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name"), ("host" = String, Path, description = "Host name")),
    request_body = LabServiceCreate,
    responses((status = 201, description = "Started on the host", body = LabService),
              (status = 404, description = "No such lab VPC or host", body = Problem),
              (status = 409, description = "The host already runs this service", body = Problem),
              (status = 422, description = "An unknown kind", body = Problem)),
    security(("bearer" = [])))]
pub async fn add_service(
    lab: Lab,
    Path((vpc, host)): Path<(String, String)>,
    body: JsonBody<LabServiceCreate>,
) -> ApiResult<(StatusCode, Json<LabService>)> {
    let req = body.value;
    let mut errors = Vec::new();
    if req.kind != "nats" {
        errors.push(FieldError::new(
            "kind",
            "known-service",
            format!("unknown lab service '{}' (one of: nats)", req.kind),
        ));
    }
    if !PEER_COUNTS.contains(&req.peers.len()) {
        errors.push(FieldError::new(
            "peers",
            "cluster-size",
            format!(
                "{} peers make a cluster of {} nodes; give none, two or four (an odd size, so a majority survives a node's loss)",
                req.peers.len(),
                req.peers.len() + 1
            ),
        ));
    }
    for (i, peer) in req.peers.iter().enumerate() {
        if *peer == host || req.peers[..i].contains(peer) {
            errors.push(FieldError::new(
                format!("peers[{i}]"),
                "distinct",
                format!("'{peer}' is named twice: each node runs on its own host"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (ip, ns) = host_of(&lab, &vpc, &host).await?;
    let mut plan = vec![NodePlan {
        host: host.clone(),
        ns,
        ip,
    }];
    for (i, peer) in req.peers.iter().enumerate() {
        let (ip, ns) = host_of(&lab, &vpc, peer).await.map_err(|_| {
            ApiError::invalid(
                &format!("peers[{i}]"),
                "exists",
                format!("lab VPC {vpc} has no host '{peer}'"),
            )
        })?;
        plan.push(NodePlan {
            host: peer.clone(),
            ns,
            ip,
        });
    }
    let hosts: Vec<String> = plan.iter().map(|n| n.host.clone()).collect();
    let port = req.port.unwrap_or(4222);
    let mut services = SERVICES.lock().expect("services");
    // A host runs one service of a kind, whether as its first host or as a peer.
    for ((other_vpc, _, kind), running) in services.iter_mut() {
        if *other_vpc != vpc || *kind != req.kind || !services_nats::any_running(&mut running.nodes)
        {
            continue;
        }
        if let Some(busy) = hosts.iter().find(|h| running.service.hosts.contains(h)) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "service-exists",
                format!(
                    "{vpc}/{busy} already runs {} at {}",
                    req.kind,
                    running.service.urls.join(",")
                ),
            ));
        }
    }
    let nodes = services_nats::start(&format!("lab-{vpc}-{host}"), &plan, port)
        .map_err(ApiError::internal)?;
    let urls: Vec<String> = plan
        .iter()
        .map(|n| format!("nats://{}:{port}", n.ip))
        .collect();
    let service = LabService {
        vpc: vpc.clone(),
        host: host.clone(),
        kind: req.kind.clone(),
        url: urls[0].clone(),
        urls,
        hosts,
    };
    services.insert(
        (vpc, host, req.kind),
        Running {
            nodes,
            service: service.clone(),
        },
    );
    Ok((StatusCode::CREATED, Json(service)))
}

#[utoipa::path(get, path = "/v1/lab/services", tag = "lab",
    responses((status = 200, description = "The running lab services", body = [LabService])),
    security(("bearer" = [])))]
pub async fn list_services(lab: Lab) -> ApiResult<Json<Vec<LabService>>> {
    lab.read()?;
    let mut services = SERVICES.lock().expect("services");
    services.retain(|_, r| services_nats::any_running(&mut r.nodes));
    Ok(Json(services.values().map(|r| r.service.clone()).collect()))
}

#[utoipa::path(delete, path = "/v1/lab/vpcs/{name}/hosts/{host}/services/{kind}", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name"), ("host" = String, Path, description = "Host name"),
           ("kind" = String, Path, description = "Service kind")),
    responses((status = 204, description = "Stopped, its data removed"),
              (status = 404, description = "The host runs no such service", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_service(
    lab: Lab,
    Path((vpc, host, kind)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    lab.superuser()?;
    let running = SERVICES
        .lock()
        .expect("services")
        .remove(&(vpc.clone(), host.clone(), kind.clone()))
        .ok_or_else(|| ApiError::not_found(format!("{vpc}/{host} runs no {kind}")))?;
    for mut node in running.nodes {
        let _ = node.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), node.child.wait()).await;
        let _ = std::fs::remove_dir_all(node.store_dir);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/lab/vpcs/{name}/hosts/{host}/services/{kind}/fill", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name"), ("host" = String, Path, description = "Host name"),
           ("kind" = String, Path, description = "Service kind (nats)")),
    request_body = LabServiceFill,
    responses((status = 200, description = "The filler's report (`stored`)", body = Object),
              (status = 404, description = "The host runs no such service", body = Problem),
              (status = 409, description = "The filler failed (its error)", body = Problem)),
    security(("bearer" = [])))]
pub async fn fill_service(
    lab: Lab,
    Path((vpc, host, kind)): Path<(String, String, String)>,
    body: JsonBody<LabServiceFill>,
) -> ApiResult<Json<serde_json::Value>> {
    let state = lab.superuser()?;
    let urls = SERVICES
        .lock()
        .expect("services")
        .get(&(vpc.clone(), host.clone(), kind.clone()))
        .map(|r| r.service.urls.clone())
        .ok_or_else(|| ApiError::not_found(format!("{vpc}/{host} runs no {kind}")))?;
    // A clustered service's streams get a replica on every node (at most three, as
    // JetStream allows five but three is what production clusters run).
    let replicas = urls.len().min(3);
    let req = body.value;
    let binary = std::env::current_exe()
        .map_err(|e| ApiError::internal(format!("find the isthmus executable: {e}")))?;
    let argv: Vec<String> = vec![
        binary.to_string_lossy().into_owned(),
        "migrate-engine".into(),
        "fill".into(),
        "--server".into(),
        urls.join(","),
        "--replicas".into(),
        replicas.to_string(),
        "--stream".into(),
        req.stream,
        "--count".into(),
        req.count.to_string(),
        "--subjects".into(),
        req.subjects.unwrap_or(16).to_string(),
        "--size".into(),
        req.size.unwrap_or(256).to_string(),
    ];
    let limits = ExecLimits {
        timeout: Duration::from_secs(600),
        max_output: MAX_EXEC_OUTPUT,
    };
    let output = local_driver(state)?
        .lab_exec_limited(&vpc, &host, &argv, limits)
        .await
        .map_err(|e| driver_failure("run the filler", e))?;
    if !output.status.success() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "fill-failed",
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map(Json)
        .map_err(|e| ApiError::internal(format!("the filler's report: {e}")))
}
