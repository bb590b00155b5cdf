//! A small Prometheus text registry: HTTP requests counted by method, route template
//! and status. Route templates (`/v1/projects/{p}/networks/{id}`), never raw paths, so
//! the number of series stays bounded whatever ids callers send.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

type RequestLabels = (String, String, u16);

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<RequestLabels, u64>>,
}

impl Metrics {
    pub fn count_request(&self, method: &str, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
    }

    /// The registry in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str("# HELP isthmus_http_requests_total HTTP requests answered, by method, route template and status.\n");
        out.push_str("# TYPE isthmus_http_requests_total counter\n");
        for ((method, route, status), count) in requests.iter() {
            let _ = writeln!(
                out,
                "isthmus_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape(method),
                escape(route)
            );
        }
        out
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: counts every answered request.
pub async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(req).await;
    state
        .metrics
        .count_request(&method, &route, response.status().as_u16());
    response
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        format!(
            "{}{}",
            state.metrics.render(),
            controller_text(&state.controller.stats())
        ),
    )
}

/// The controller's counters and queue gauges in Prometheus text.
fn controller_text(stats: &crate::controller::ControllerStats) -> String {
    let series = [
        (
            "isthmus_reconciles_total",
            "counter",
            "Reconciles finished, any outcome.",
            stats.reconciles,
        ),
        (
            "isthmus_reconcile_errors_total",
            "counter",
            "Reconciles that ended in an error and were retried.",
            stats.errors,
        ),
        (
            "isthmus_queue_depth",
            "gauge",
            "Resources queued to reconcile now.",
            stats.queue_depth,
        ),
        (
            "isthmus_queue_scheduled",
            "gauge",
            "Resources queued to reconcile later (waits, backoff).",
            stats.scheduled,
        ),
    ];
    series
        .iter()
        .map(|(name, kind, help, value)| {
            format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_rendered_per_method_route_and_status() {
        let m = Metrics::default();
        m.count_request("GET", "/v1/projects", 200);
        m.count_request("GET", "/v1/projects", 200);
        m.count_request("POST", "/v1/projects", 422);
        let text = m.render();
        assert!(text.contains(
            "isthmus_http_requests_total{method=\"GET\",route=\"/v1/projects\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "isthmus_http_requests_total{method=\"POST\",route=\"/v1/projects\",status=\"422\"} 1"
        ));
        assert!(text.contains("# TYPE isthmus_http_requests_total counter"));
    }
}
