//! Services on lab hosts: a self-hosted NATS server with JetStream on a host of a lab VPC,
//! standing in for the event store a customer migrates (`isthmus lab service add VPC/HOST
//! nats`), and a way to fill it with events (the migration engine's filler, run on the
//! host). Single-node only. The server runs each one in the host's namespace, listening on
//! the host's address, and stops it when asked, when the server stops, or with its host.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use isthmus_driver_local::{ExecLimits, MAX_EXEC_OUTPUT};
use serde::{Deserialize, Serialize};
use tokio::process::Child;
use utoipa::ToSchema;

use super::{driver_failure, local_driver, Lab};
use crate::api::body::JsonBody;
use crate::api::problem::{ApiError, ApiResult, Problem};

/// The running services, by (VPC, host, kind).
static SERVICES: Mutex<BTreeMap<(String, String, String), Running>> = Mutex::new(BTreeMap::new());

struct Running {
    child: Child,
    service: LabService,
    store_dir: PathBuf,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabServiceCreate {
    /// `nats`: nats-server with JetStream.
    pub kind: String,
    /// The client port (default 4222).
    #[serde(default)]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabService {
    pub vpc: String,
    pub host: String,
    pub kind: String,
    /// Where clients (and a migration's `source.urls`) reach it.
    pub url: String,
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
    if req.kind != "nats" {
        return Err(ApiError::invalid(
            "kind",
            "known-service",
            format!("unknown lab service '{}' (one of: nats)", req.kind),
        ));
    }
    let (ip, ns) = host_of(&lab, &vpc, &host).await?;
    let key = (vpc.clone(), host.clone(), req.kind.clone());
    if let Some(running) = SERVICES.lock().expect("services").get_mut(&key) {
        if matches!(running.child.try_wait(), Ok(None)) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "service-exists",
                format!(
                    "{vpc}/{host} already runs {} at {}",
                    req.kind, running.service.url
                ),
            ));
        }
    }
    let port = req.port.unwrap_or(4222);
    let store_dir = std::env::temp_dir().join(format!("isthmus-lab-{ns}-nats-{port}"));
    // A service starts empty: nothing of an earlier run on the same host is kept.
    let _ = std::fs::remove_dir_all(&store_dir);
    std::fs::create_dir_all(&store_dir)
        .map_err(|e| ApiError::internal(format!("create {}: {e}", store_dir.display())))?;
    let mut command = tokio::process::Command::new("ip");
    command
        .args(["netns", "exec", &ns, "nats-server", "-js"])
        .args(["-a", &ip.to_string(), "-p", &port.to_string()])
        .arg("-sd")
        .arg(&store_dir)
        .args(["-n", &format!("lab-{vpc}-{host}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    // SAFETY: the closure makes one async-signal-safe syscall (prctl).
    unsafe {
        command.pre_exec(|| {
            // The service dies with the server, as every lab object does.
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    let child = command
        .spawn()
        .map_err(|e| ApiError::internal(format!("start nats-server in {ns}: {e}")))?;
    let service = LabService {
        vpc,
        host,
        kind: req.kind,
        url: format!("nats://{ip}:{port}"),
    };
    SERVICES.lock().expect("services").insert(
        key,
        Running {
            child,
            service: service.clone(),
            store_dir,
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
    services.retain(|_, r| matches!(r.child.try_wait(), Ok(None)));
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
    let Running {
        mut child,
        store_dir,
        ..
    } = running;
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    let _ = std::fs::remove_dir_all(store_dir);
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
    let url = SERVICES
        .lock()
        .expect("services")
        .get(&(vpc.clone(), host.clone(), kind.clone()))
        .map(|r| r.service.url.clone())
        .ok_or_else(|| ApiError::not_found(format!("{vpc}/{host} runs no {kind}")))?;
    let req = body.value;
    let binary = std::env::current_exe()
        .map_err(|e| ApiError::internal(format!("find the isthmus executable: {e}")))?;
    let argv: Vec<String> = vec![
        binary.to_string_lossy().into_owned(),
        "migrate-engine".into(),
        "fill".into(),
        "--server".into(),
        url,
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
