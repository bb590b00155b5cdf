//! A gateway's clients, under the gateway: create (generating the key pair when the
//! request brings no public key), list, the wg-quick config, and key rotation. A
//! generated private key is in the one answer that made it (`private_key`) and nowhere
//! else: not stored, not in a GET, not in the config download (which has a placeholder
//! the laptop fills in). Revoking is the client's DELETE (`/vpn-clients/{id}`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use isthmus_core::kinds::vpn_client::{
    VpnClient, VpnClientCreate, VpnClientStatus, VpnClientUpdate, VpnGrantRequest,
};
use isthmus_core::kinds::vpn_config::wg_quick_config;
use isthmus_core::kinds::vpn_gateway::VpnGateway;
use isthmus_core::resources::Cluster;

use isthmus_driver::wg_keys;
use isthmus_store::api::Api;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::{parse_json, JsonBody};
use super::problem::{ApiError, ApiResult};
use super::respond::{created, idempotency, one};
use crate::auth::{InProject, Operator, Viewer};
use crate::state::AppState;

/// A client of the gateway in the path.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayClientCreate {
    pub name: String,
    /// The laptop's own public key (`wg pubkey`); without one the server makes the pair
    /// and answers the private key once, as `private_key`.
    pub public_key: Option<String>,
    #[serde(default)]
    pub grants: Vec<VpnGrantRequest>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A rotation: the new public key, or none to have a pair generated.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRotate {
    pub public_key: Option<String>,
}

/// The client as stored, plus the private key of a pair generated for this answer.
#[derive(Serialize)]
struct WithPrivateKey<'a> {
    #[serde(flatten)]
    client: &'a VpnClient,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
}

async fn gateway(
    state: &AppState,
    project: isthmus_core::ProjectId,
    raw: &str,
) -> ApiResult<VpnGateway> {
    Ok(Api::<VpnGateway>::new(state.store.docs())
        .find(project, raw)
        .await?)
}

/// The client `raw` of `gateway` (404 when it belongs to another gateway).
async fn client_of(
    state: &AppState,
    access: &InProject<impl Sized>,
    gateway: &VpnGateway,
    raw: &str,
) -> ApiResult<VpnClient> {
    let c: VpnClient = Api::new(state.store.docs())
        .find(access.project, raw)
        .await?;
    if c.gateway_id != gateway.id {
        return Err(ApiError::not_found(format!(
            "vpn_client {raw} not found on gateway {}",
            gateway.id
        )));
    }
    Ok(c)
}

/// Creates a client of the gateway; without `public_key`, the answer's `private_key`
/// is the only copy of the generated private key.
#[utoipa::path(post, path = "/v1/projects/{p}/vpn-gateways/{id}/clients", tag = "vpn-gateways",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "VPN gateway id or name")),
    request_body = GatewayClientCreate,
    responses((status = 201, description = "Created (with `private_key` once, when the server made the pair)", body = VpnClient),
        (status = 409, description = "The key is in use on the gateway, the gateway is being deleted, or its range is full"),
        (status = 422, description = "Invalid (the field names it, e.g. a grant to a cluster of another network)")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    body: JsonBody<GatewayClientCreate>,
) -> ApiResult<Response> {
    let g = gateway(&state, access.project, &path.1).await?;
    let pair = body.value.public_key.is_none().then(wg_keys::generate);
    // A replay could not answer a generated private key again: only a request that
    // brings its own key is bound to an Idempotency-Key.
    let idem = match pair {
        None => idempotency(&access.caller, &headers, &body)?,
        Some(_) => None,
    };
    let req = VpnClientCreate {
        name: body.value.name.clone(),
        gateway_id: g.id.to_string(),
        public_key: body
            .value
            .public_key
            .clone()
            .or_else(|| pair.as_ref().map(|p| p.public.to_string())),
        grants: body.value.grants.clone(),
        expires_at: body.value.expires_at,
    };
    let env = isthmus_store::api::Env {
        dns_zone: state.config.dns_zone.clone(),
    };
    let done = Api::<VpnClient>::new(state.store.docs())
        .create(&access.actor(), access.project, &req, &env, idem.as_ref())
        .await?;
    let c = done.resource;
    state.enqueue::<VpnClient>(c.id.0);
    let location = format!("/v1/projects/{}/vpn-clients/{}", c.project_id, c.id);
    let answer = WithPrivateKey {
        client: &c,
        private_key: pair.map(|p| p.private.to_string()),
    };
    Ok(created(done.replayed, location, c.version, &answer))
}

/// The gateway's clients (revoked ones are gone from the list).
#[utoipa::path(get, path = "/v1/projects/{p}/vpn-gateways/{id}/clients", tag = "vpn-gateways",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "VPN gateway id or name")),
    responses((status = 200, description = "Every live client of the gateway", body = [VpnClient])),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    Path(path): Path<(String, String)>,
) -> ApiResult<Json<Vec<VpnClient>>> {
    let g = gateway(&state, access.project, &path.1).await?;
    let clients: Vec<VpnClient> = Api::new(state.store.docs()).owned_by(g.id.0).await?;
    Ok(Json(
        clients
            .into_iter()
            .filter(|c| c.status != VpnClientStatus::Deleted)
            .collect(),
    ))
}

/// `?format=`: `text` (the default) or `qr`.
#[derive(Debug, Default, Deserialize)]
pub struct ConfigQuery {
    pub format: Option<String>,
}

/// The client's wg-quick config: `AllowedIPs` covers only its granted clusters' nodes.
/// The private key is a placeholder: the server never keeps one. Each download is in the
/// audit log (`vpn_client.config_download`).
#[utoipa::path(get, path = "/v1/projects/{p}/vpn-gateways/{id}/clients/{cid}/config", tag = "vpn-gateways",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "VPN gateway id or name"), ("cid" = String, Path, description = "VPN client id or name"),
        ("format" = Option<String>, Query, description = "`text` (default): the wg-quick file; `qr`: a PNG QR code of it")),
    responses((status = 200, description = "wg-quick config (text/plain), or its QR code (image/png)", body = String, content_type = "text/plain"),
        (status = 422, description = "An unknown format")),
    security(("bearer" = [])))]
pub async fn config(
    State(state): State<AppState>,
    access: InProject<Viewer>,
    Path(path): Path<(String, String, String)>,
    Query(query): Query<ConfigQuery>,
) -> ApiResult<Response> {
    let qr = match query.format.as_deref() {
        None | Some("text") => false,
        Some("qr") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "format",
                "one-of",
                format!("'{other}' is not a config format: text or qr"),
            ))
        }
    };
    let g = gateway(&state, access.project, &path.1).await?;
    let c = client_of(&state, &access, &g, &path.2).await?;
    let clusters: Vec<Cluster> = Api::<Cluster>::new(state.store.docs())
        .owned_by(g.network_id.0)
        .await?;
    let text = wg_quick_config(&g, &c, &clusters, &state.config.dns_zone, None);
    isthmus_store::record_config_download(state.store.docs(), &access.actor(), c.project_id, c.id)
        .await?;
    if qr {
        let png = super::vpn_qr::png(&text)
            .map_err(|e| ApiError::internal(format!("render the QR code: {e:#}")))?;
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, "image/png")], png).into_response());
    }
    let disposition = format!("attachment; filename=\"{}.conf\"", c.name);
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response())
}

/// Gives the client a new key (`public_key`, or a generated pair whose private key is in
/// this answer only): same address, same grants; the old key stops working.
#[utoipa::path(post, path = "/v1/projects/{p}/vpn-gateways/{id}/clients/{cid}/rotate", tag = "vpn-gateways",
    params(("p" = String, Path, description = "Project id"), ("id" = String, Path, description = "VPN gateway id or name"), ("cid" = String, Path, description = "VPN client id or name")),
    request_body = ClientRotate,
    responses((status = 202, description = "Rotated (with `private_key` once, when the server made the pair)", body = VpnClient),
        (status = 409, description = "The key is in use by another client of the gateway")),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    access: InProject<Operator>,
    Path(path): Path<(String, String, String)>,
    raw: Bytes,
) -> ApiResult<Response> {
    let g = gateway(&state, access.project, &path.1).await?;
    let c = client_of(&state, &access, &g, &path.2).await?;
    let body: ClientRotate = if raw.iter().all(u8::is_ascii_whitespace) {
        ClientRotate::default()
    } else {
        parse_json(&raw)?
    };
    let pair = body.public_key.is_none().then(wg_keys::generate);
    let key = body
        .public_key
        .or_else(|| pair.as_ref().map(|p| p.public.to_string()));
    let change = VpnClientUpdate {
        public_key: key,
        ..Default::default()
    };
    let c: VpnClient = Api::new(state.store.docs())
        .update(&access.actor(), access.project, c.id.0, &change, None)
        .await?;
    state.enqueue::<VpnClient>(c.id.0);
    let answer = WithPrivateKey {
        client: &c,
        private_key: pair.map(|p| p.private.to_string()),
    };
    Ok(one(StatusCode::ACCEPTED, c.version, &answer))
}
