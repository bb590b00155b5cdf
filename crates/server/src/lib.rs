//! Isthmus server: the REST API, the controller, and authentication.

pub mod allowlist_expiry;
pub mod api;
pub mod audit_feed;
pub mod auth;
pub mod cache;
pub mod console;
pub mod controller;
pub mod data_dir;
pub mod dns_records;
pub mod dns_sync;
pub mod http_server;
pub mod kinds;
pub mod lab_dns;
mod lab_dns_endpoints;
pub mod leader;
pub mod local;
pub mod metrics;
pub mod migrations;
pub mod nodes;
pub mod serve;
pub mod sim_shared;
pub mod state;

pub use api::router;
pub use serve::{serve, ServeConfig};
pub use state::AppState;
