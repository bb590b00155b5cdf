//! The five routes every resource kind has, written once: create, list, get, update and
//! delete under `/v1/projects/{p}/<plural>`, over the store's typed facade [`Api`]. A kind
//! plugs in by implementing [`ApiKind`] (its OpenAPI texts, in `api/<plural>.rs`); the registry
//! ([`crate::kinds::KINDS`]) adds its routes and its OpenAPI paths.

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use isthmus_core::object::Object;
use isthmus_core::{Id, ProjectId};
use isthmus_store::api::{Admit, Api, Env};
use isthmus_store::{ObjectKey, Page, Result as StoreResult};
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::body::JsonBody;
use super::params::{if_match, CascadeParam, PageParams};
use super::problem::{ApiError, ApiResult};
use super::respond::{created, idempotency, one, one_json};
use super::routes::Routes;
use crate::auth::{InProject, Operator, Viewer};
use crate::cache::{CachedBody, FRESH_FOR};
use crate::state::AppState;

/// A kind the API serves with the generic handlers: every store call goes through the
/// typed facade [`Api`] and the kind's [`Admit`] rules, so a kind states here only what
/// its OpenAPI operations say and, if it needs one, a hook after a delete. Its request
/// bodies are [`Admit::Create`] and [`Admit::Update`], which the API also reads as JSON
/// and documents.
pub trait ApiKind:
    Admit<
        Create: DeserializeOwned + ToSchema + Send + Sync + 'static,
        Update: DeserializeOwned + ToSchema + Send + Sync + 'static,
    > + ToSchema
{
    /// What the OpenAPI document says about this kind's answers.
    const DOCS: ApiDocs;

    /// Refuses a create this server could never carry out (a 422 naming the field),
    /// before anything is stored. Nothing by default.
    fn check_create(_state: &AppState, _req: &Self::Create) -> ApiResult<()> {
        Ok(())
    }

    /// Keeps what a create request carries that the object must not (a write-only
    /// secret), once the object exists and before the controller is woken. Nothing by
    /// default.
    fn after_create(_state: &AppState, _req: &Self::Create, _created: &Self) -> ApiResult<()> {
        Ok(())
    }

    /// Wakes the controller for what a delete changed besides the object itself and what
    /// went down with it (the generic handler wakes those). Nothing by default.
    fn after_delete(
        _state: &AppState,
        _deleted: &Self,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }
}

/// What the kinds' admission rules read from the installation's settings.
fn env(state: &AppState) -> Env {
    Env {
        dns_zone: state.config.dns_zone.clone(),
    }
}

/// The texts of a kind's OpenAPI operations that differ from kind to kind.
#[derive(Debug, Clone, Copy)]
pub struct ApiDocs {
    /// Why a create may answer 409.
    pub create_conflict: &'static str,
    /// The description of an update's 200.
    pub updated: &'static str,
    /// The description of an update's 422.
    pub update_invalid: &'static str,
    /// Why a delete may answer 409, for kinds whose delete can be refused.
    pub delete_conflict: Option<&'static str>,
}

/// `/v1/projects/{p}/<plural>`.
pub fn collection_path<K: ApiKind>() -> String {
    format!("/v1/projects/{{p}}/{}", K::INFO.plural)
}

/// `/v1/projects/{p}/<plural>/{id}`.
pub fn item_path<K: ApiKind>() -> String {
    format!("{}/{{id}}", collection_path::<K>())
}

/// Adds the five routes of `K`.
pub fn routes<K: ApiKind>(routes: Routes) -> Routes {
    let collection = collection_path::<K>();
    let item = item_path::<K>();
    routes
        .post(&collection, create::<K>)
        .get(&collection, list::<K>)
        .get(&item, get::<K>)
        .patch(&item, update::<K>)
        .delete(&item, delete::<K>)
}

async fn create<K: ApiKind>(
    State(state): State<AppState>,
    access: InProject<Operator>,
    headers: HeaderMap,
    body: JsonBody<K::Create>,
) -> ApiResult<Response> {
    let idem = idempotency(&access.caller, &headers, &body)?;
    K::check_create(&state, &body.value)?;
    let done = Api::<K>::new(state.store.docs())
        .create(
            &access.actor(),
            access.project,
            &body.value,
            &env(&state),
            idem.as_ref(),
        )
        .await?;
    let obj = done.resource;
    K::after_create(&state, &body.value, &obj)?;
    state.enqueue::<K>(obj.id());
    let path = format!(
        "/v1/projects/{}/{}/{}",
        obj.project_id(),
        K::INFO.plural,
        obj.id()
    );
    Ok(created(done.replayed, path, obj.version(), &obj))
}

async fn list<K: ApiKind>(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<K>>> {
    Ok(Json(
        Api::<K>::new(state.store.docs())
            .list(access.project, &page)
            .await?,
    ))
}

async fn get<K: ApiKind>(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    Path(path): Path<(String, String)>,
) -> ApiResult<Response> {
    // By name, or without caches: straight from the store. The cache is keyed by id.
    let (Some(caches), Ok(id)) = (&state.caches, path.1.parse::<Id>()) else {
        let obj = Api::<K>::new(state.store.docs())
            .find(access.project, &path.1)
            .await?;
        return Ok(one(StatusCode::OK, obj.version(), &obj));
    };
    // The answer as serialised before, while it is current (`cache`); another project's
    // object is looked up as usual, to answer exactly as the store does.
    let key = ObjectKey::of::<K>(id);
    if let Some(hit) = caches.resources.get(&key, FRESH_FOR) {
        if hit.project == access.project {
            return Ok(one_json(StatusCode::OK, hit.version, hit.json.clone()));
        }
    }
    let ticket = caches.resources.ticket(&key);
    let obj = Api::<K>::new(state.store.docs())
        .get(access.project, id)
        .await?;
    let body = Arc::new(CachedBody {
        project: access.project,
        version: obj.version(),
        json: Bytes::from(
            serde_json::to_vec(&obj)
                .map_err(|e| ApiError::internal(format!("encode {} {id}: {e}", K::INFO.name)))?,
        ),
    });
    caches.resources.insert(key, body.clone(), ticket);
    Ok(one_json(StatusCode::OK, body.version, body.json.clone()))
}

async fn update<K: ApiKind>(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    body: JsonBody<K::Update>,
) -> ApiResult<Response> {
    let id = object_id::<K>(&state, access.project, &path.1).await?;
    let obj = Api::<K>::new(state.store.docs())
        .update(
            &access.actor(),
            access.project,
            id,
            &body.value,
            if_match(&headers)?,
        )
        .await?;
    state.enqueue::<K>(obj.id());
    Ok(one(StatusCode::OK, obj.version(), &obj))
}

async fn delete<K: ApiKind>(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    CascadeParam(cascade): CascadeParam,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = object_id::<K>(&state, access.project, &path.1).await?;
    let obj = delete_object::<K>(
        &state,
        &access.actor(),
        access.project,
        id,
        if_match(&headers)?,
        cascade,
    )
    .await?;
    Ok(one(StatusCode::ACCEPTED, obj.version(), &obj))
}

/// Marks the object `id` of `K` for deletion and wakes the controller for it, for what
/// went down with it and for what the kind's hook names: the delete route's work, also
/// run for each object of a project deleted with cascade.
pub async fn delete_object<K: ApiKind>(
    state: &AppState,
    actor: &isthmus_store::Actor,
    project: ProjectId,
    id: Id,
    if_match: Option<u64>,
    cascade: bool,
) -> ApiResult<K> {
    let obj = Api::<K>::new(state.store.docs())
        .delete_explicit(actor, project, id, if_match, cascade)
        .await?;
    state.enqueue::<K>(obj.id());
    // What went down with it is `deleting` already: have it go now, not at the resync
    // (its finalizer wakes what it owns in turn).
    for key in objects_children(state, obj.id()).await? {
        state.controller.enqueue(key);
    }
    K::after_delete(state, &obj).await?;
    Ok(obj)
}

/// The id of the object of `project` that a path segment names: an id as it is (an id's
/// form is one no name may take), else the one live object of that name (404 when none,
/// 409 `name-ambiguous` for a name shared from before names were unique).
pub async fn object_id<K: Object>(
    state: &AppState,
    project: ProjectId,
    raw: &str,
) -> ApiResult<Id> {
    if let Ok(id) = raw.parse::<Id>() {
        return Ok(id);
    }
    Ok(Api::<K>::new(state.store.docs())
        .find(project, raw)
        .await?
        .id())
}

/// The live objects, of any kind, that the object `id` owns.
async fn objects_children(state: &AppState, id: Id) -> StoreResult<Vec<ObjectKey>> {
    let owned = state.store.docs().owned_docs(id, None).await?;
    Ok(owned.iter().map(|doc| doc.key()).collect())
}
