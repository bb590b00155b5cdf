//! `/v1/projects/{p}/tokens` and `/members`: who may do what in a project (admins only);
//! `/v1/tokens`: every token, revocation and rotation (the superuser only). Responses
//! that carry a secret are `Cache-Control: no-store`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use isthmus_core::resources::{Membership, Role, Token};
use isthmus_core::{CoreError, FieldError, TokenId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::params::{location, path_id};
use super::problem::{ApiError, ApiResult, Problem};
use crate::auth::{
    hash_secret, new_secret, read_secret_file, replace_secret_file, Admin, Caller, InProject,
};
use crate::state::AppState;

/// The shortest and longest lifetime a new token may be given.
pub const MIN_EXPIRES_IN_SECONDS: u64 = 60;
pub const MAX_EXPIRES_IN_SECONDS: u64 = 10 * 365 * 24 * 3600;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    pub name: String,
    pub role: Role,
    /// The token answers 401 this many seconds after its creation (60 … 315360000);
    /// absent: it never expires.
    #[serde(default)]
    pub expires_in_seconds: Option<u64>,
}

/// The only time a secret is shown: it is stored as a hash.
#[derive(Serialize, ToSchema)]
pub struct TokenCreated {
    pub token: Token,
    pub secret: String,
    pub role: Role,
}

/// A token with its role in the project.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectToken {
    #[serde(flatten)]
    pub token: Token,
    pub role: Role,
}

/// A rotated token's new secret, shown once; the old one no longer works.
#[derive(Serialize, ToSchema)]
pub struct TokenRotated {
    pub token: Token,
    pub secret: String,
    /// The server's `admin-token` file, when it held the old secret and now holds the new
    /// one.
    pub admin_token_file: Option<String>,
    /// What the caller must still do (e.g. a file the server could not update).
    pub warnings: Vec<String>,
}

/// Debug without the secret: a `{:?}` in a log line must never print one.
impl std::fmt::Debug for TokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCreated")
            .field("token", &self.token)
            .field("secret", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

impl std::fmt::Debug for TokenRotated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRotated")
            .field("token", &self.token)
            .field("secret", &"<redacted>")
            .field("admin_token_file", &self.admin_token_file)
            .finish()
    }
}

/// A response that carries a secret: no cache (browser, proxy) may keep it.
fn no_store() -> [(HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

fn superuser_only(caller: &Caller) -> ApiResult<()> {
    if caller.is_superuser() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the superuser token may list, revoke or rotate tokens installation-wide",
        ))
    }
}

fn expiry(expires_in_seconds: Option<u64>) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(seconds) = expires_in_seconds else {
        return Ok(None);
    };
    if !(MIN_EXPIRES_IN_SECONDS..=MAX_EXPIRES_IN_SECONDS).contains(&seconds) {
        return Err(ApiError::invalid(
            "expires_in_seconds",
            "range",
            format!(
                "a token lives {MIN_EXPIRES_IN_SECONDS} to {MAX_EXPIRES_IN_SECONDS} seconds \
                 (10 years), got {seconds}; leave it out for a token that never expires"
            ),
        ));
    }
    Ok(Some(Utc::now() + chrono::Duration::seconds(seconds as i64)))
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
    let expires_at = expiry(body.value.expires_in_seconds)?;
    let secret = new_secret();
    let grant = (access.project, role);
    let token = match expires_at {
        None => {
            state
                .store
                .create_token(
                    &access.actor(),
                    &name,
                    false,
                    &hash_secret(&secret),
                    Some(grant),
                )
                .await?
        }
        Some(at) => {
            state
                .store
                .create_expiring_token(&access.actor(), &name, &hash_secret(&secret), grant, at)
                .await?
        }
    };
    let path = format!("/v1/projects/{}/members/{}", access.project, token.id);
    let created = TokenCreated {
        token,
        secret,
        role,
    };
    Ok((
        StatusCode::CREATED,
        [location(path)],
        no_store(),
        Json(created),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/projects/{p}/tokens", tag = "tokens",
    params(("p" = String, Path, description = "Project id")),
    responses((status = 200, description = "The tokens with a role in the project (never a secret)", body = [ProjectToken]),
              (status = 403, description = "Not an admin of the project", body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    access: InProject<Admin>,
) -> ApiResult<Json<Vec<ProjectToken>>> {
    let tokens = state.store.project_tokens(access.project).await?;
    Ok(Json(
        tokens
            .into_iter()
            .map(|(token, role)| ProjectToken { token, role })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/v1/projects/{p}/tokens/{token_id}", tag = "tokens",
    params(("p" = String, Path, description = "Project id"), ("token_id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked: the token answers 401 from now on and loses every role"),
              (status = 403, description = "Not an admin of every project the token has a role in", body = Problem),
              (status = 404, description = "No token with a role in the project", body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    access: InProject<Admin>,
    Path(path): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let token_id: TokenId = path_id("token", &path.1)?;
    let roles = state.store.memberships_of(token_id).await?;
    if !roles.iter().any(|m| m.project_id == access.project) {
        return Err(ApiError::not_found(format!(
            "token {token_id} has no role in project {}",
            access.project
        )));
    }
    // Revoking ends the token everywhere: only an admin of all its projects may.
    if roles
        .iter()
        .any(|m| access.caller.role_in(m.project_id) != Some(Role::Admin))
    {
        return Err(ApiError::forbidden(format!(
            "token {token_id} also has a role in a project this token is not an admin of; \
             remove it from this project instead (DELETE …/members/{token_id}), or ask the \
             superuser to revoke it"
        )));
    }
    state.store.revoke_token(&access.actor(), token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses((status = 200, description = "Every token of the installation, revoked and expired ones included (never a secret)", body = [Token]),
              (status = 403, description = "Not the superuser", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_all(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Token>>> {
    superuser_only(&caller)?;
    Ok(Json(state.store.list_tokens().await?))
}

/// `self` in a path: the caller's own token.
fn target(caller: &Caller, raw: &str) -> ApiResult<TokenId> {
    if raw == "self" {
        Ok(caller.token.id)
    } else {
        path_id("token", raw)
    }
}

#[utoipa::path(delete, path = "/v1/tokens/{token_id}", tag = "tokens",
    params(("token_id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked: the token answers 401 from now on and loses every role"),
              (status = 403, description = "Not the superuser", body = Problem),
              (status = 404, description = "No such token", body = Problem),
              (status = 409, description = "A superuser token (rotate it instead)", body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke_any(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    superuser_only(&caller)?;
    let id = target(&caller, &raw)?;
    if state.store.get_token(id).await?.superuser {
        return Err(CoreError::conflict(
            None,
            "superuser-token",
            format!(
                "token {id} is a superuser token: revoking it could lock everyone out; rotate \
                 it instead (POST /v1/tokens/{id}/rotate)"
            ),
        )
        .into());
    }
    state.store.revoke_token(&caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/tokens/{token_id}/rotate", tag = "tokens",
    params(("token_id" = String, Path, description = "Token id, or `self` for the caller's own")),
    responses((status = 200, description = "A new secret, shown once; the old one answers 401 from now on", body = TokenRotated),
              (status = 403, description = "Not the superuser", body = Problem),
              (status = 404, description = "No such token", body = Problem),
              (status = 409, description = "The token is revoked", body = Problem)),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    superuser_only(&caller)?;
    let id = target(&caller, &raw)?;
    // Does the server's admin-token file hold this token's (old) secret? Asked before the
    // rotation, while the old secret still finds it.
    let file = state.config.admin_token_file.clone();
    let file_holds_it = match &file {
        Some(path) => match read_secret_file(path) {
            Some(old) => state
                .store
                .token_by_hash(&hash_secret(&old))
                .await?
                .is_some_and(|t| t.id == id),
            None => false,
        },
        None => false,
    };
    let secret = new_secret();
    let token = state
        .store
        .rotate_token(&caller.actor(), id, &hash_secret(&secret))
        .await?;
    let mut rotated = TokenRotated {
        token,
        secret,
        admin_token_file: None,
        warnings: Vec::new(),
    };
    if let (Some(path), true) = (&file, file_holds_it) {
        match replace_secret_file(path, &rotated.secret) {
            Ok(()) => rotated.admin_token_file = Some(path.display().to_string()),
            Err(e) => {
                tracing::warn!(
                    "rotated token {id} but could not update {}: {e:#}",
                    path.display()
                );
                rotated.warnings.push(format!(
                    "{} still holds the old secret and could not be updated ({e:#}): write the \
                     new secret into it",
                    path.display()
                ));
            }
        }
    }
    Ok((StatusCode::OK, no_store(), Json(rotated)).into_response())
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
