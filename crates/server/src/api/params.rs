//! The small things many handlers take from a request: page parameters, `If-Match`,
//! `Idempotency-Key`, ids in the path, and the `ETag`/`Location` they answer with.

use std::str::FromStr;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use isthmus_store::PageRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use super::problem::{ApiError, ApiResult};

pub const MAX_PAGE_LIMIT: u32 = 1000;
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// `?cursor=&limit=&include_deleted=` as they arrive; checked by `PageParams`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Items per page, 1…1000 (default 100).
    pub limit: Option<String>,
    /// Also list resources in status `deleted`.
    pub include_deleted: Option<String>,
}

/// A checked page request.
pub struct PageParams(pub PageRequest);

impl<S: Send + Sync> FromRequestParts<S> for PageParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(q) = Query::<PageQuery>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid("query", "query-syntax", e.body_text()))?;
        page_request(q).map(PageParams)
    }
}

fn page_request(q: PageQuery) -> ApiResult<PageRequest> {
    let limit = match q.limit.as_deref() {
        None | Some("") => 0,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "limit",
                    "range",
                    format!("limit must be a number from 1 to {MAX_PAGE_LIMIT}, got '{raw}'"),
                ))
            }
        },
    };
    let include_deleted = match q.include_deleted.as_deref() {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "include_deleted",
                "boolean",
                format!("include_deleted must be true or false, got '{other}'"),
            ))
        }
    };
    Ok(PageRequest {
        cursor: q.cursor.filter(|c| !c.is_empty()),
        limit,
        include_deleted,
    })
}

/// The version an `If-Match` header asks for: `"3"`, `W/"3"` or a bare `3`; `*` (or no
/// header) asks for none.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid(
            "If-Match",
            "etag-syntax",
            "If-Match must be a resource version as given in its ETag, e.g. \"3\"",
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let text = text.strip_prefix("W/").unwrap_or(text);
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    text.parse::<u64>().map(Some).map_err(|_| bad())
}

/// The `Idempotency-Key` header, if any: 1…255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_LEN
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "idempotency-key-syntax",
            format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            ),
        ));
    }
    Ok(Some(key.to_string()))
}

/// An id from the path. A malformed id names nothing that exists, so it is a 404.
pub fn path_id<T: FromStr>(kind: &str, raw: &str) -> ApiResult<T> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("{kind} {raw} not found")))
}

/// `ETag: "<version>"`.
pub fn etag(version: u64) -> (header::HeaderName, HeaderValue) {
    let value =
        HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header");
    (header::ETAG, value)
}

/// `Location: <path>` of a created resource.
pub fn location(path: String) -> (header::HeaderName, HeaderValue) {
    let value = HeaderValue::from_str(&path).unwrap_or_else(|_| HeaderValue::from_static("/"));
    (header::LOCATION, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn if_match_takes_quoted_weak_or_bare_versions() {
        for raw in ["\"7\"", "W/\"7\"", "7"] {
            assert_eq!(if_match(&headers(header::IF_MATCH, raw)).unwrap(), Some(7));
        }
        assert_eq!(if_match(&headers(header::IF_MATCH, "*")).unwrap(), None);
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
        let err = if_match(&headers(header::IF_MATCH, "\"abc\"")).unwrap_err();
        assert_eq!(err.0.errors[0].field, "If-Match");
    }

    #[test]
    fn page_limits_outside_one_to_a_thousand_are_refused() {
        let q = |limit: &str| PageQuery {
            limit: Some(limit.into()),
            ..Default::default()
        };
        assert_eq!(page_request(q("50")).unwrap().limit, 50);
        for bad in ["0", "1001", "many"] {
            let err = page_request(q(bad)).unwrap_err();
            assert_eq!(err.0.errors[0].field, "limit");
        }
    }
}

/// `?cascade=true|false` on a delete: whether what goes down with the object may go.
pub struct CascadeParam(pub bool);

#[derive(Deserialize)]
struct CascadeQuery {
    cascade: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for CascadeParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(q) = Query::<CascadeQuery>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid("query", "query-syntax", e.body_text()))?;
        match q.cascade.as_deref() {
            None | Some("") | Some("false") => Ok(CascadeParam(false)),
            Some("true") => Ok(CascadeParam(true)),
            Some(other) => Err(ApiError::invalid(
                "cascade",
                "boolean",
                format!("cascade must be true or false, got '{other}'"),
            )),
        }
    }
}
