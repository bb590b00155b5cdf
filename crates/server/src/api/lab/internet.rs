//! The lab's internet: hosts with public addresses, each in its own namespace linked to
//! the lab's internet.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use isthmus_core::lab::{LabHost, LabHostCreate};
use isthmus_driver_local::LabHostSpec;

use super::{apply_or_undo, driver_failure, usable, Lab};
use crate::api::body::JsonBody;
use crate::api::problem::{ApiResult, Problem};

#[utoipa::path(get, path = "/v1/lab/internet/hosts", tag = "lab",
    responses((status = 200, description = "Every internet host, by name", body = [LabHost]),
              (status = 409, description = "No local provider on this server", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_internet_hosts(lab: Lab) -> ApiResult<Json<Vec<LabHost>>> {
    Ok(Json(lab.read_local()?.store.list_internet_hosts().await?))
}

#[utoipa::path(post, path = "/v1/lab/internet/hosts", tag = "lab",
    request_body = LabHostCreate,
    responses((status = 201, description = "The internet host, its namespace linked to the lab's internet", body = LabHost),
              (status = 409, description = "Name or address taken, or no local provider", body = Problem),
              (status = 422, description = "Invalid name, or an address that is not public", body = Problem)),
    security(("bearer" = [])))]
pub async fn add_internet_host(lab: Lab, body: JsonBody<LabHostCreate>) -> ApiResult<Response> {
    let change = lab.change().await?;
    let (state, actor) = (change.state, &change.actor);
    let host = state.store.add_internet_host(actor, &body.value).await?;
    let undo = async {
        let _ = state.store.delete_internet_host(actor, &host.name).await;
        let _ = change.driver.delete_internet_host(&host.name).await;
    };
    let add = async {
        let spec = LabHostSpec::from(&host);
        change.driver.add_internet_host(&spec).await.map(|_| ())
    };
    apply_or_undo(add, undo, || format!("add internet host {}", host.name)).await?;
    usable(state).await;
    Ok((StatusCode::CREATED, Json(host)).into_response())
}

#[utoipa::path(delete, path = "/v1/lab/internet/hosts/{name}", tag = "lab",
    params(("name" = String, Path, description = "Internet host name")),
    responses((status = 204, description = "The host and its namespace are gone"),
              (status = 404, description = "No such internet host", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_internet_host(lab: Lab, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let change = lab.change().await?;
    let (state, actor) = (change.state, &change.actor);
    state.store.delete_internet_host(actor, &name).await?;
    change
        .driver
        .delete_internet_host(&name)
        .await
        .map_err(|e| driver_failure(&format!("delete internet host {name}"), e))?;
    Ok(StatusCode::NO_CONTENT)
}
