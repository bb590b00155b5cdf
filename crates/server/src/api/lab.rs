//! `/v1/lab/…`: lab VPCs, the customer's side of `local` peerings, the lab's internet
//! (hosts with public addresses), and commands run inside their hosts. The store holds what should exist; the local driver makes it so. Changing
//! the host's namespaces and running commands on it is the superuser's business only.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use isthmus_core::lab::{LabHost, LabHostCreate, LabVpc, LabVpcCreate, INTERNET};
use isthmus_core::object::Object;
use isthmus_core::resources::Peering;
use isthmus_core::{CoreError, FieldError};
use isthmus_driver_local::{ExecLimits, LocalDriver, MAX_EXEC_OUTPUT};
use isthmus_store::api::Api;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::problem::{ApiError, ApiResult, Problem};
use crate::auth::Caller;
use crate::local::{internet_host_spec, lab_spec, unavailable_reason};
use crate::state::AppState;

/// Lab changes touch one VPC's namespaces as a whole (the driver is given the full host
/// list from the store), so they run one at a time: two concurrent host additions can
/// never each apply a list without the other's host.
static LAB_CHANGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a lab command may run when the request does not say, and at most.
pub const DEFAULT_EXEC_TIMEOUT_SECONDS: u64 = 60;
pub const MAX_EXEC_TIMEOUT_SECONDS: u64 = 3600;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabExec {
    /// The program and its arguments, each passed as one argument (never through a shell).
    pub argv: Vec<String>,
    /// Seconds the command may run before its whole process group is killed: 1 … 3600,
    /// default 60.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LabExecResult {
    /// The exit code; 128 + N when the command was killed by signal N.
    pub status: i32,
    /// At most 16 MiB of each stream (decoded as UTF-8, invalid bytes replaced).
    pub stdout: String,
    pub stderr: String,
    /// A stream passed 16 MiB: the rest of it was read and dropped.
    pub truncated: bool,
    /// The command ran past `timeout_seconds` and was killed with its process group.
    pub timed_out: bool,
}

/// A 404 when this server runs without the lab API (`isthmus serve --no-lab`).
fn lab_enabled(state: &AppState) -> ApiResult<()> {
    if state.config.lab_enabled {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "the lab API is disabled on this server (it was started with --no-lab)",
        ))
    }
}

fn superuser_only(caller: &Caller) -> ApiResult<()> {
    if caller.is_superuser() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the superuser token may change lab VPCs or run commands in them",
        ))
    }
}

/// The local driver, or a 409 that says why this server has none.
fn local_driver(state: &AppState) -> ApiResult<&LocalDriver> {
    state.local.as_deref().ok_or_else(|| {
        let why = unavailable_reason()
            .unwrap_or_else(|| "this server was started without the local provider".to_string());
        let detail = format!("lab VPCs need the local provider: {why}");
        ApiError::new(StatusCode::CONFLICT, "conflict", &detail).with_errors(vec![FieldError::new(
            "provider",
            "local-provider-unavailable",
            detail,
        )])
    })
}

fn driver_failure(what: &str, e: anyhow::Error) -> ApiError {
    ApiError::internal(format!("{what}: {e:#}"))
}

/// Brings the lab VPC's namespaces to what the store holds for it.
async fn apply(driver: &LocalDriver, vpc: &LabVpc) -> anyhow::Result<()> {
    driver.ensure_lab_vpc(&lab_spec(vpc)).await.map(|_| ())
}

/// Wakes the local peerings to lab VPC `name`, so a change on the customer's side shows in
/// their status now rather than at the next resync.
async fn wake_peerings_of(state: &AppState, name: &str) {
    let Ok(keys) = state.store.list_live().await else {
        return;
    };
    let peerings = Api::<Peering>::new(state.store.docs());
    for key in keys.into_iter().filter(|k| k.kind == Peering::INFO.name) {
        if let Ok(Some(p)) = peerings.load(key.id).await {
            if p.peer.network_id == name {
                state.enqueue::<Peering>(p.id.0);
            }
        }
    }
}

#[utoipa::path(post, path = "/v1/lab/vpcs", tag = "lab",
    request_body = LabVpcCreate,
    responses((status = 201, description = "The lab VPC, its namespaces made (linked to its hub when `behind` is set)", body = LabVpc),
              (status = 409, description = "Name taken, CIDR overlaps another lab VPC, or no local provider", body = Problem),
              (status = 422, description = "Invalid name, CIDR or `behind` (unknown VPC, or one itself behind another)", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_vpc(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<LabVpcCreate>,
) -> ApiResult<Response> {
    lab_enabled(&state)?;
    superuser_only(&caller)?;
    let driver = local_driver(&state)?;
    let _one_at_a_time = LAB_CHANGES.lock().await;
    let vpc = state
        .store
        .create_lab_vpc(&caller.actor(), &body.value)
        .await?;
    if let Err(e) = apply(driver, &vpc).await {
        // Nothing half-made stays behind: the row goes, and the sweep at the next start
        // removes any namespace that was made.
        let _ = state.store.delete_lab_vpc(&caller.actor(), &vpc.name).await;
        let _ = driver.delete_lab_vpc(&vpc.name).await;
        return Err(driver_failure(&format!("create lab VPC {}", vpc.name), e));
    }
    wake_peerings_of(&state, &vpc.name).await;
    Ok((StatusCode::CREATED, Json(vpc)).into_response())
}

#[utoipa::path(get, path = "/v1/lab/vpcs", tag = "lab",
    responses((status = 200, description = "Every lab VPC with its hosts", body = [LabVpc])),
    security(("bearer" = [])))]
pub async fn list_vpcs(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Vec<LabVpc>>> {
    lab_enabled(&state)?;
    Ok(Json(state.store.list_lab_vpcs().await?))
}

#[utoipa::path(delete, path = "/v1/lab/vpcs/{name}", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name")),
    responses((status = 204, description = "Removed with its hosts; peerings to it end deleted_by_peer"),
              (status = 404, description = "No such lab VPC", body = Problem),
              (status = 409, description = "Another lab VPC sits behind it", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_vpc(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    lab_enabled(&state)?;
    superuser_only(&caller)?;
    let driver = local_driver(&state)?;
    let _one_at_a_time = LAB_CHANGES.lock().await;
    state.store.get_lab_vpc(&name).await?;
    refuse_if_hub(&state, &name).await?;
    driver
        .delete_lab_vpc(&name)
        .await
        .map_err(|e| driver_failure(&format!("delete lab VPC {name}"), e))?;
    state.store.delete_lab_vpc(&caller.actor(), &name).await?;
    wake_peerings_of(&state, &name).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/lab/vpcs/{name}/hosts", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name")),
    request_body = LabHostCreate,
    responses((status = 201, description = "The host, its namespace made", body = LabHost),
              (status = 404, description = "No such lab VPC", body = Problem),
              (status = 409, description = "Name or address taken", body = Problem),
              (status = 422, description = "Invalid name or address", body = Problem)),
    security(("bearer" = [])))]
pub async fn add_host(
    State(state): State<AppState>,
    caller: Caller,
    Path(vpc_name): Path<String>,
    body: JsonBody<LabHostCreate>,
) -> ApiResult<Response> {
    lab_enabled(&state)?;
    superuser_only(&caller)?;
    let driver = local_driver(&state)?;
    let _one_at_a_time = LAB_CHANGES.lock().await;
    let host = state
        .store
        .add_lab_host(&caller.actor(), &vpc_name, &body.value)
        .await?;
    let vpc = state.store.get_lab_vpc(&vpc_name).await?;
    if let Err(e) = apply(driver, &vpc).await {
        let _ = state
            .store
            .delete_lab_host(&caller.actor(), &vpc_name, &host.name)
            .await;
        let what = format!("add host {} to lab VPC {vpc_name}", host.name);
        return Err(driver_failure(&what, e));
    }
    Ok((StatusCode::CREATED, Json(host)).into_response())
}

#[utoipa::path(delete, path = "/v1/lab/vpcs/{name}/hosts/{host}", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name"),
           ("host" = String, Path, description = "Host name")),
    responses((status = 204, description = "The host and its namespace are gone"),
              (status = 404, description = "No such lab VPC or host", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_host(
    State(state): State<AppState>,
    caller: Caller,
    Path((vpc_name, host)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    lab_enabled(&state)?;
    superuser_only(&caller)?;
    let driver = local_driver(&state)?;
    let _one_at_a_time = LAB_CHANGES.lock().await;
    state
        .store
        .delete_lab_host(&caller.actor(), &vpc_name, &host)
        .await?;
    let vpc = state.store.get_lab_vpc(&vpc_name).await?;
    apply(driver, &vpc)
        .await
        .map_err(|e| driver_failure(&format!("delete host {host} of lab VPC {vpc_name}"), e))?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/lab/vpcs/{name}/hosts/{host}/exec", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name, or `internet` for an internet host"),
           ("host" = String, Path, description = "Host name")),
    request_body = LabExec,
    responses((status = 200, description = "The command ran (whatever its exit code), or was killed at its timeout (`timed_out`)", body = LabExecResult),
              (status = 404, description = "No such lab VPC or host, or the lab API is disabled (`serve --no-lab`)", body = Problem),
              (status = 422, description = "Empty argv, or timeout_seconds out of 1…3600", body = Problem)),
    security(("bearer" = [])))]
pub async fn exec(
    State(state): State<AppState>,
    caller: Caller,
    Path((vpc_name, host)): Path<(String, String)>,
    body: JsonBody<LabExec>,
) -> ApiResult<Json<LabExecResult>> {
    lab_enabled(&state)?;
    superuser_only(&caller)?;
    let argv = body.value.argv;
    if argv.first().is_none_or(|p| p.is_empty()) {
        return Err(ApiError::invalid(
            "argv",
            "required",
            "name the program to run and its arguments",
        ));
    }
    let timeout = body
        .value
        .timeout_seconds
        .unwrap_or(DEFAULT_EXEC_TIMEOUT_SECONDS);
    if !(1..=MAX_EXEC_TIMEOUT_SECONDS).contains(&timeout) {
        return Err(ApiError::invalid(
            "timeout_seconds",
            "range",
            format!("a lab command runs 1 to {MAX_EXEC_TIMEOUT_SECONDS} seconds, got {timeout}"),
        ));
    }
    let limits = ExecLimits {
        timeout: Duration::from_secs(timeout),
        max_output: MAX_EXEC_OUTPUT,
    };
    let driver = local_driver(&state)?;
    if vpc_name == INTERNET {
        let hosts = state.store.list_internet_hosts().await?;
        if !hosts.iter().any(|h| h.name == host) {
            return Err(ApiError::not_found(format!(
                "the internet has no host '{host}'"
            )));
        }
    } else {
        let vpc = state.store.get_lab_vpc(&vpc_name).await?;
        if !vpc.hosts.iter().any(|h| h.name == host) {
            return Err(ApiError::not_found(format!(
                "lab VPC {vpc_name} has no host '{host}'"
            )));
        }
    }
    let output = driver
        .lab_exec_limited(&vpc_name, &host, &argv, limits)
        .await
        .map_err(|e| driver_failure(&format!("run {} in {vpc_name}/{host}", argv[0]), e))?;
    let status = output
        .status
        .code()
        .or_else(|| output.status.signal().map(|s| 128 + s))
        .unwrap_or(-1);
    Ok(Json(LabExecResult {
        status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        truncated: output.truncated,
        timed_out: output.timed_out,
    }))
}

/// A hub goes after the VPCs behind it (the store refuses too; asking first keeps the
/// namespaces of a refused delete intact).
async fn refuse_if_hub(state: &AppState, name: &str) -> ApiResult<()> {
    let spokes: Vec<String> = state
        .store
        .list_lab_vpcs()
        .await?
        .into_iter()
        .filter(|v| v.behind.as_deref() == Some(name))
        .map(|v| v.name)
        .collect();
    if spokes.is_empty() {
        return Ok(());
    }
    Err(CoreError::conflict(
        None,
        "vpc-in-use",
        format!(
            "lab VPC {name} is the gateway of {}: delete those first",
            spokes.join(", ")
        ),
    )
    .into())
}

#[utoipa::path(get, path = "/v1/lab/internet/hosts", tag = "lab",
    responses((status = 200, description = "Every internet host, by name", body = [LabHost])),
    security(("bearer" = [])))]
pub async fn list_internet_hosts(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Vec<LabHost>>> {
    lab_enabled(&state)?;
    Ok(Json(state.store.list_internet_hosts().await?))
}

#[utoipa::path(post, path = "/v1/lab/internet/hosts", tag = "lab",
    request_body = LabHostCreate,
    responses((status = 201, description = "The internet host, its namespace linked to the lab's internet", body = LabHost),
              (status = 409, description = "Name or address taken, or no local provider", body = Problem),
              (status = 422, description = "Invalid name, or an address that is not public", body = Problem)),
    security(("bearer" = [])))]
pub async fn add_internet_host(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<LabHostCreate>,
) -> ApiResult<Response> {
    lab_enabled(&state)?;
    superuser_only(&caller)?;
    let driver = local_driver(&state)?;
    let _one_at_a_time = LAB_CHANGES.lock().await;
    let host = state
        .store
        .add_internet_host(&caller.actor(), &body.value)
        .await?;
    if let Err(e) = driver.add_internet_host(&internet_host_spec(&host)).await {
        let _ = state
            .store
            .delete_internet_host(&caller.actor(), &host.name)
            .await;
        let _ = driver.delete_internet_host(&host.name).await;
        return Err(driver_failure(
            &format!("add internet host {}", host.name),
            e,
        ));
    }
    Ok((StatusCode::CREATED, Json(host)).into_response())
}

#[utoipa::path(delete, path = "/v1/lab/internet/hosts/{name}", tag = "lab",
    params(("name" = String, Path, description = "Internet host name")),
    responses((status = 204, description = "The host and its namespace are gone"),
              (status = 404, description = "No such internet host", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_internet_host(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    lab_enabled(&state)?;
    superuser_only(&caller)?;
    let driver = local_driver(&state)?;
    let _one_at_a_time = LAB_CHANGES.lock().await;
    state
        .store
        .delete_internet_host(&caller.actor(), &name)
        .await?;
    driver
        .delete_internet_host(&name)
        .await
        .map_err(|e| driver_failure(&format!("delete internet host {name}"), e))?;
    Ok(StatusCode::NO_CONTENT)
}
