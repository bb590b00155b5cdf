//! Who is calling and what they may do. `Caller` resolves the bearer token;
//! `InProject<R>` also checks that the caller holds at least role `R` in the project of
//! the path (`{p}`). A caller with no role in a project gets 404, never 403, so the
//! existence of other tenants' projects does not leak; a role too low gets 403.

use std::collections::HashMap;
use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path};
use axum::http::header;
use axum::http::request::Parts;
use chrono::{SecondsFormat, Utc};
use isthmus_core::resources::{Membership, Role, Token};
use isthmus_core::ProjectId;
use isthmus_store::Actor;

use super::secret::hash_secret;
use crate::api::params::path_id;
use crate::api::problem::{ApiError, ApiResult};
use crate::cache::FRESH_FOR;
use crate::state::AppState;

/// An authenticated token and its roles.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: Token,
    pub memberships: Vec<Membership>,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::token(self.token.id)
    }

    pub fn is_superuser(&self) -> bool {
        self.token.superuser
    }

    /// The caller's role in `project`; a superuser is admin everywhere.
    pub fn role_in(&self, project: ProjectId) -> Option<Role> {
        if self.token.superuser {
            return Some(Role::Admin);
        }
        self.memberships
            .iter()
            .find(|m| m.project_id == project)
            .map(|m| m.role)
    }

    /// Ok if the caller holds `needed` in `project`; 404 for no role, 403 for too low.
    pub async fn authorize(
        &self,
        state: &AppState,
        project: ProjectId,
        needed: Role,
    ) -> ApiResult<Role> {
        let not_found = || ApiError::not_found(format!("project {project} not found"));
        let role = self.role_in(project).ok_or_else(not_found)?;
        if self.token.superuser {
            // A membership proves the project exists; the superuser has none to prove it.
            // Projects are never deleted, so one that existed once still does.
            match &state.caches {
                Some(caches) if caches.project_known(project) => {}
                caches => {
                    state.store.get_project(project).await?;
                    if let Some(caches) = caches {
                        caches.remember_project(project);
                    }
                }
            }
        }
        if role < needed {
            return Err(ApiError::forbidden(format!(
                "this needs the {} role in project {project}; the token has {}",
                needed.as_str(),
                role.as_str()
            )));
        }
        Ok(role)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let hash = hash_secret(bearer(parts)?);
        // A verified caller is kept for at most a second (`cache`): a revocation,
        // rotation or role change made through this server drops it at once, one made
        // elsewhere within a second. Expiry is checked on every request.
        let caller = match &state.caches {
            Some(caches) => match caches.callers.get(&hash, FRESH_FOR) {
                Some(caller) => caller,
                None => {
                    let ticket = caches.callers.ticket(&hash);
                    let caller = load(state, &hash).await?;
                    caches.callers.insert(hash, caller.clone(), ticket);
                    caller
                }
            },
            None => load(state, &hash).await?,
        };
        let token = &caller.token;
        if let Some(at) = token.revoked_at {
            return Err(ApiError::unauthorized(format!(
                "the bearer token was revoked at {}",
                at.to_rfc3339_opts(SecondsFormat::Secs, true)
            )));
        }
        if let Some(at) = token.expires_at.filter(|at| *at <= Utc::now()) {
            return Err(ApiError::unauthorized(format!(
                "the bearer token expired at {}",
                at.to_rfc3339_opts(SecondsFormat::Secs, true)
            )));
        }
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The token with this secret hash and its roles, from the store. Revoked and expired
/// tokens too: the caller answers for them.
async fn load(state: &AppState, hash: &str) -> ApiResult<Caller> {
    let token = state
        .store
        .token_by_hash(hash)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the bearer token is not known"))?;
    let memberships = state.store.memberships_of(token.id).await?;
    Ok(Caller { token, memberships })
}

fn bearer(parts: &Parts) -> ApiResult<&str> {
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("an Authorization: Bearer <token> header is required")
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be 'Bearer <token>'"))
}

/// The least role a handler needs, as a type.
pub trait NeededRole: Send + Sync {
    const ROLE: Role;
}

pub struct Viewer;
pub struct Operator;
pub struct Admin;

impl NeededRole for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl NeededRole for Operator {
    const ROLE: Role = Role::Operator;
}
impl NeededRole for Admin {
    const ROLE: Role = Role::Admin;
}

/// A caller allowed at least role `R` in the project of the path's `{p}`. Runs before
/// the body is read, so an outsider learns nothing from validation errors either.
pub struct InProject<R> {
    pub caller: Caller,
    pub project: ProjectId,
    pub role: Role,
    _needed: PhantomData<R>,
}

impl<R> InProject<R> {
    pub fn actor(&self) -> Actor {
        self.caller.actor()
    }
}

impl<R: NeededRole> FromRequestParts<AppState> for InProject<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::not_found(e.body_text()))?;
        let raw = params
            .get("p")
            .ok_or_else(|| ApiError::internal("route has no {p} parameter"))?;
        let project: ProjectId = path_id("project", raw)?;
        let role = caller.authorize(state, project, R::ROLE).await?;
        Ok(InProject {
            caller,
            project,
            role,
            _needed: PhantomData,
        })
    }
}
