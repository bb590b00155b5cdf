//! Commands run inside a lab host (a lab VPC's or the internet's), with a timeout and a
//! cap on what they print.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use axum::extract::Path;
use axum::Json;
use isthmus_core::lab::INTERNET;
use isthmus_driver_local::{ExecLimits, MAX_EXEC_OUTPUT};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{driver_failure, local_driver, Lab};
use crate::api::body::JsonBody;
use crate::api::problem::{ApiError, ApiResult, Problem};

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

#[utoipa::path(post, path = "/v1/lab/vpcs/{name}/hosts/{host}/exec", tag = "lab",
    params(("name" = String, Path, description = "Lab VPC name, or `internet` for an internet host"),
           ("host" = String, Path, description = "Host name")),
    request_body = LabExec,
    responses((status = 200, description = "The command ran (whatever its exit code), or was killed at its timeout (`timed_out`)", body = LabExecResult),
              (status = 404, description = "No such lab VPC or host, or the lab API is disabled (`serve --no-lab`)", body = Problem),
              (status = 422, description = "Empty argv, or timeout_seconds out of 1…3600", body = Problem)),
    security(("bearer" = [])))]
pub async fn exec(
    lab: Lab,
    Path((vpc_name, host)): Path<(String, String)>,
    body: JsonBody<LabExec>,
) -> ApiResult<Json<LabExecResult>> {
    let state = lab.superuser()?;
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
    let driver = local_driver(state)?;
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
