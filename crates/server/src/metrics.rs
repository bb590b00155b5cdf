//! A small Prometheus text registry: HTTP requests counted by method, route template
//! and status class. Every label comes from a bounded set, whatever a caller sends: a
//! known method or `other`, a route template (`/v1/projects/{p}/networks/{id}`) or
//! `unmatched`, never a raw path, and the status class (`2xx`…`5xx`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

type RequestLabels = (&'static str, String, &'static str);

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<RequestLabels, u64>>,
}

impl Metrics {
    /// Counts one answered request. `route` must be a route template or `unmatched`
    /// (what [`count_requests`] passes); the method and status are reduced to their
    /// bounded labels here.
    pub fn count_request(&self, method: &str, route: &str, status: u16) {
        let key = (
            method_label(method),
            route.to_string(),
            status_class(status),
        );
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry(key).or_default() += 1;
    }

    /// The registry in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str("# HELP isthmus_http_requests_total HTTP requests answered, by method, route template and status class.\n");
        out.push_str("# TYPE isthmus_http_requests_total counter\n");
        for ((method, route, status), count) in requests.iter() {
            let _ = writeln!(
                out,
                "isthmus_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape(route)
            );
        }
        out
    }
}

/// The method label: one of the methods of RFC 9110 and PATCH, else `other` (a client
/// may send any token as a method; each one must not become a series).
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

/// The status label: its class, `1xx` to `5xx` (`other` for codes outside 100–599).
fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "other",
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
    let method = method_label(req.method().as_str());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(req).await;
    state
        .metrics
        .count_request(method, &route, response.status().as_u16());
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
            "{}{}{}",
            state.metrics.render(),
            controller_text(&state.controller.stats()),
            leader_text(&state.leadership.status())
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

/// Whether this replica leads, the lease's epoch and since when its holder holds it.
fn leader_text(status: &crate::leader::LeaderStatus) -> String {
    let since = status.since.map(|t| t.timestamp()).unwrap_or(0);
    format!(
        "# HELP isthmus_controller_leader 1 while this replica runs the controller.\n\
         # TYPE isthmus_controller_leader gauge\n\
         isthmus_controller_leader {}\n\
         # HELP isthmus_controller_lease_epoch The controller lease's epoch (0 on SQLite).\n\
         # TYPE isthmus_controller_lease_epoch gauge\n\
         isthmus_controller_lease_epoch {}\n\
         # HELP isthmus_controller_leader_since_seconds Since when the leader leads (Unix time).\n\
         # TYPE isthmus_controller_leader_since_seconds gauge\n\
         isthmus_controller_leader_since_seconds {since}\n",
        u8::from(status.leader),
        status.epoch,
    ) + provider_leader_text(&status.providers).as_str()
}

/// Per provider: whether this replica reconciles its resources, and its lease's epoch.
fn provider_leader_text(providers: &[crate::leader::ProviderLeader]) -> String {
    let mut text = String::from(
        "# HELP isthmus_provider_leader 1 while this replica reconciles the provider's resources.\n\
         # TYPE isthmus_provider_leader gauge\n",
    );
    for p in providers {
        text += &format!(
            "isthmus_provider_leader{{provider=\"{}\"}} {}\n",
            p.provider,
            u8::from(p.leader)
        );
    }
    text += "# HELP isthmus_provider_lease_epoch The provider lease's epoch (0 on SQLite).\n\
             # TYPE isthmus_provider_lease_epoch gauge\n";
    for p in providers {
        text += &format!(
            "isthmus_provider_lease_epoch{{provider=\"{}\"}} {}\n",
            p.provider, p.epoch
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line of the request counter, as rendered.
    fn series(method: &str, route: &str, status: &str, count: u64) -> String {
        format!(
            "isthmus_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
        )
    }

    #[test]
    fn counters_are_rendered_per_method_route_and_status_class() {
        let m = Metrics::default();
        m.count_request("GET", "/v1/projects", 200);
        m.count_request("GET", "/v1/projects", 201);
        m.count_request("POST", "/v1/projects", 422);
        let text = m.render();
        assert!(text.contains(&series("GET", "/v1/projects", "2xx", 2)));
        assert!(text.contains(&series("POST", "/v1/projects", "4xx", 1)));
        assert!(text.contains("# TYPE isthmus_http_requests_total counter"));
    }

    #[test]
    fn unknown_methods_and_odd_statuses_share_one_series() {
        let m = Metrics::default();
        for i in 0..100 {
            m.count_request(&format!("X{i}{}", "M".repeat(1000)), "unmatched", 405);
        }
        m.count_request("get", "unmatched", 999);
        let text = m.render();
        assert!(text.contains(&series("other", "unmatched", "4xx", 100)));
        assert!(text.contains(&series("other", "unmatched", "other", 1)));
        assert_eq!(text.lines().count(), 4, "{text}");
    }
}
