//! The web console: a static page, a stylesheet and a small hand-written script, all
//! embedded in the binary so `isthmus serve` needs no build step and no Node toolchain.
//! The script talks to the same REST API as the CLI, with the user's bearer token; these
//! routes serve files only and read no token. The list and detail pages of every
//! registered kind are drawn from its descriptor (`kinds.json`, see `descriptor.rs`).

mod catalog;
pub mod descriptor;
mod endpoint_service;
mod kinds;
mod migration;
mod vpn;

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::api::{ApiError, Routes};

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const OBJECTS_JS: &str = include_str!("objects.js");
const PANELS_JS: &str = include_str!("panels.js");
const ENDPOINTS_JS: &str = include_str!("endpoints.js");
const TOOLS_JS: &str = include_str!("tools.js");
const EGRESS_JS: &str = include_str!("egress.js");
const MIGRATION_JS: &str = include_str!("migration.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Adds the console's routes: `/` and its assets under `/console/`.
pub fn routes(routes: Routes) -> Routes {
    routes.get("/", index).get("/console/{asset}", asset)
}

const JS: &str = "text/javascript; charset=utf-8";

async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX_HTML)
}

async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => file(JS, APP_JS),
        "objects.js" => file(JS, OBJECTS_JS),
        "panels.js" => file(JS, PANELS_JS),
        "endpoints.js" => file(JS, ENDPOINTS_JS),
        "tools.js" => file(JS, TOOLS_JS),
        "egress.js" => file(JS, EGRESS_JS),
        "migration.js" => file(JS, MIGRATION_JS),
        "style.css" => file("text/css; charset=utf-8", STYLE_CSS),
        "kinds.json" => file("application/json", kinds_json()),
        "catalog.json" => file("application/json", catalog::json()),
        _ => ApiError::not_found(format!(
            "no console asset {name:?}: there are app.js, objects.js, panels.js, endpoints.js, \
             migration.js, tools.js, egress.js, style.css, kinds.json and catalog.json"
        ))
        .into_response(),
    }
}

/// Every registered kind's descriptor, in registry order (the navigation's order).
fn kinds_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let kinds: Vec<_> = crate::kinds::KINDS.iter().map(|k| k.console()).collect();
        serde_json::json!({ "kinds": kinds }).to_string()
    })
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The assets change with the binary; a stale script after an upgrade would call an
    // API it does not match, so the browser revalidates every time.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Only our own script and style run; the token in sessionStorage stays ours.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
