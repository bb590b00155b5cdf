//! How handlers answer: one resource with its `ETag`, a create with its `Location`, and
//! the Idempotency-Key a create is bound to.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use isthmus_store::IdempotencyKey;
use serde::Serialize;

use super::body::JsonBody;
use super::params::{etag, idempotency_key, location};
use super::problem::ApiResult;
use crate::auth::Caller;

/// A single resource at `version`, answered with `status`.
pub fn one<T: Serialize>(status: StatusCode, version: u64, resource: &T) -> Response {
    (status, [etag(version)], Json(resource)).into_response()
}

/// A single resource at `version` already serialised as JSON, answered with `status`:
/// the same answer as [`one`].
pub fn one_json(status: StatusCode, version: u64, json: Bytes) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            etag(version),
        ],
        json,
    )
        .into_response()
}

/// A create: 201 with `Location`, or 200 when an Idempotency-Key replays an earlier one.
pub fn created<T: Serialize>(replayed: bool, path: String, version: u64, resource: &T) -> Response {
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, [etag(version), location(path)], Json(resource)).into_response()
}

/// The caller's Idempotency-Key for this body: scoped to the token, bound to the body's hash.
pub fn idempotency<T>(
    caller: &Caller,
    headers: &HeaderMap,
    body: &JsonBody<T>,
) -> ApiResult<Option<IdempotencyKey>> {
    Ok(idempotency_key(headers)?.map(|key| IdempotencyKey {
        scope: caller.token.id.to_string(),
        key,
        request_hash: body.hash(),
    }))
}
