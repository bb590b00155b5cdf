//! `/v1/projects/{p}/tokens` and `/members`: who may do what in a project (admins only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use isthmus_core::resources::{Membership, Role, Token};
use isthmus_core::{FieldError, TokenId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::params::{location, path_id};
use super::problem::{ApiError, ApiResult, Problem};
use crate::auth::{hash_secret, new_secret, Admin, InProject};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    pub name: String,
    pub role: Role,
}

/// The only time a secret is shown: it is stored as a hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCreated {
    pub token: Token,
    pub secret: String,
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberUpdate {
    pub role: Role,
}

#[utoipa::path(post, path = "/v1/projects/{p}/tokens", tag = "tokens",
    params(("p" = String, Path, description = "Project id")),
    request_body = TokenCreate,
    responses((status = 201, description = "Created; the secret is shown once", body = TokenCreated),
              (status = 403, description = "Not an admin of the project", body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    access: InProject<Admin>,
    body: JsonBody<TokenCreate>,
) -> ApiResult<Response> {
    let name = isthmus_core::rules::validate_name("name", &body.value.name)
        .map_err(|e: FieldError| ApiError::validation(vec![e]))?;
    let role = body.value.role;
    let secret = new_secret();
    let token = state
        .store
        .create_token(
            &access.actor(),
            &name,
            false,
            &hash_secret(&secret),
            Some((access.project, role)),
        )
        .await?;
    let path = format!("/v1/projects/{}/members/{}", access.project, token.id);
    let created = TokenCreated {
        token,
        secret,
        role,
    };
    Ok((StatusCode::CREATED, [location(path)], Json(created)).into_response())
}

#[utoipa::path(get, path = "/v1/projects/{p}/members", tag = "tokens",
    params(("p" = String, Path, description = "Project id")),
    responses((status = 200, description = "Every token with a role in the project", body = [Membership])),
    security(("bearer" = [])))]
pub async fn members(
    State(state): State<AppState>,
    access: InProject<Admin>,
) -> ApiResult<Json<Vec<Membership>>> {
    Ok(Json(state.store.members_of(access.project).await?))
}

#[utoipa::path(put, path = "/v1/projects/{p}/members/{token_id}", tag = "tokens",
    params(("p" = String, Path, description = "Project id"), ("token_id" = String, Path, description = "Token id")),
    request_body = MemberUpdate,
    responses((status = 200, description = "The membership as set", body = Membership)),
    security(("bearer" = [])))]
pub async fn set_member(
    State(state): State<AppState>,
    access: InProject<Admin>,
    Path(path): Path<(String, String)>,
    body: JsonBody<MemberUpdate>,
) -> ApiResult<Json<Membership>> {
    let token_id: TokenId = path_id("token", &path.1)?;
    let m = Membership {
        project_id: access.project,
        token_id,
        role: body.value.role,
    };
    state.store.set_membership(&access.actor(), &m).await?;
    Ok(Json(m))
}

#[utoipa::path(delete, path = "/v1/projects/{p}/members/{token_id}", tag = "tokens",
    params(("p" = String, Path, description = "Project id"), ("token_id" = String, Path, description = "Token id")),
    responses((status = 204, description = "The token has no role in the project any more")),
    security(("bearer" = [])))]
pub async fn remove_member(
    State(state): State<AppState>,
    access: InProject<Admin>,
    Path(path): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let token_id: TokenId = path_id("token", &path.1)?;
    state
        .store
        .remove_membership(&access.actor(), access.project, token_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
