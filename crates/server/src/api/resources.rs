//! The five routes every resource kind has, written once: create, list, get, update and
//! delete under `/v1/projects/{p}/<plural>`. A kind plugs in by implementing [`ApiKind`]
//! (its store calls, one line each, in `api/<plural>.rs`); the registry
//! ([`crate::kinds::KINDS`]) adds its routes and its OpenAPI paths.

use std::future::Future;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use isthmus_core::object::Object;
use isthmus_core::{Id, ProjectId};
use isthmus_store::{
    Actor, Created, IdempotencyKey, Kind, Page, PageRequest, Result as StoreResult, Store,
};
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::body::JsonBody;
use super::params::{if_match, path_id, PageParams};
use super::problem::ApiResult;
use super::respond::{created, idempotency, one};
use super::routes::Routes;
use crate::auth::{InProject, Operator, Viewer};
use crate::state::AppState;

/// A kind the API serves with the generic handlers. The store calls are the only
/// per-kind code; when the store's typed facade arrives, they become one generic call.
pub trait ApiKind: Object + ToSchema {
    /// The controller's queue key of this kind.
    const QUEUE: Kind;
    /// What the OpenAPI document says about this kind's answers.
    const DOCS: ApiDocs;
    /// The body of a create.
    type Create: DeserializeOwned + ToSchema + Send + Sync + 'static;
    /// The body of an update (PATCH).
    type Update: DeserializeOwned + ToSchema + Send + Sync + 'static;

    fn create(
        state: &AppState,
        actor: &Actor,
        project: ProjectId,
        req: &Self::Create,
        idem: Option<&IdempotencyKey>,
    ) -> impl Future<Output = StoreResult<Created<Self>>> + Send;
    fn get(
        store: &dyn Store,
        project: ProjectId,
        id: Id,
    ) -> impl Future<Output = StoreResult<Self>> + Send;
    fn list(
        store: &dyn Store,
        project: ProjectId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Self>>> + Send;
    fn update(
        store: &dyn Store,
        actor: &Actor,
        project: ProjectId,
        id: Id,
        req: &Self::Update,
        if_match: Option<u64>,
    ) -> impl Future<Output = StoreResult<Self>> + Send;
    fn delete(
        store: &dyn Store,
        actor: &Actor,
        project: ProjectId,
        id: Id,
        if_match: Option<u64>,
    ) -> impl Future<Output = StoreResult<Self>> + Send;
    /// Wakes the controller for what a delete changed besides the object itself (a
    /// network's delete takes its peerings down too). Nothing by default.
    fn after_delete(
        _state: &AppState,
        _deleted: &Self,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }
}

/// Implements [`ApiKind`]'s store calls with today's per-kind `Store` methods, named in
/// the order create (unless the kind writes its own), get, list, update, delete. The
/// store's typed facade will replace them with one generic call each.
macro_rules! store_calls {
    ($create:ident; $($rest:ident),+) => {
        async fn create(
            state: &crate::state::AppState,
            actor: &isthmus_store::Actor,
            project: isthmus_core::ProjectId,
            req: &Self::Create,
            idem: Option<&isthmus_store::IdempotencyKey>,
        ) -> isthmus_store::Result<isthmus_store::Created<Self>> {
            state.store.$create(actor, project, req, idem).await
        }
        $crate::api::resources::store_calls!($($rest),+);
    };
    ($get:ident, $list:ident, $update:ident, $delete:ident) => {
        async fn get(
            store: &dyn isthmus_store::Store,
            project: isthmus_core::ProjectId,
            id: isthmus_core::Id,
        ) -> isthmus_store::Result<Self> {
            store.$get(project, id.into()).await
        }
        async fn list(
            store: &dyn isthmus_store::Store,
            project: isthmus_core::ProjectId,
            page: &isthmus_store::PageRequest,
        ) -> isthmus_store::Result<isthmus_store::Page<Self>> {
            store.$list(project, page).await
        }
        async fn update(
            store: &dyn isthmus_store::Store,
            actor: &isthmus_store::Actor,
            project: isthmus_core::ProjectId,
            id: isthmus_core::Id,
            req: &Self::Update,
            if_match: Option<u64>,
        ) -> isthmus_store::Result<Self> {
            store.$update(actor, project, id.into(), req, if_match).await
        }
        async fn delete(
            store: &dyn isthmus_store::Store,
            actor: &isthmus_store::Actor,
            project: isthmus_core::ProjectId,
            id: isthmus_core::Id,
            if_match: Option<u64>,
        ) -> isthmus_store::Result<Self> {
            store.$delete(actor, project, id.into(), if_match).await
        }
    };
}
pub(crate) use store_calls;

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
    let done = K::create(
        &state,
        &access.actor(),
        access.project,
        &body.value,
        idem.as_ref(),
    )
    .await?;
    let obj = done.resource;
    state.enqueue(K::QUEUE, obj.id());
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
        K::list(state.store.as_ref(), access.project, &page).await?,
    ))
}

async fn get<K: ApiKind>(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    Path(path): Path<(String, String)>,
) -> ApiResult<Response> {
    let id: Id = path_id(K::INFO.name, &path.1)?;
    let obj = K::get(state.store.as_ref(), access.project, id).await?;
    Ok(one(StatusCode::OK, obj.version(), &obj))
}

async fn update<K: ApiKind>(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    body: JsonBody<K::Update>,
) -> ApiResult<Response> {
    let id: Id = path_id(K::INFO.name, &path.1)?;
    let obj = K::update(
        state.store.as_ref(),
        &access.actor(),
        access.project,
        id,
        &body.value,
        if_match(&headers)?,
    )
    .await?;
    state.enqueue(K::QUEUE, obj.id());
    Ok(one(StatusCode::OK, obj.version(), &obj))
}

async fn delete<K: ApiKind>(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: Id = path_id(K::INFO.name, &path.1)?;
    let obj = K::delete(
        state.store.as_ref(),
        &access.actor(),
        access.project,
        id,
        if_match(&headers)?,
    )
    .await?;
    state.enqueue(K::QUEUE, obj.id());
    K::after_delete(&state, &obj).await?;
    Ok(one(StatusCode::ACCEPTED, obj.version(), &obj))
}
