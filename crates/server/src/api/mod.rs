//! The REST API v1 (see notes/api.md): the generic routes of every registered kind
//! (`resources.rs`), the bespoke ones (one file each), errors as problem+json, and the
//! OpenAPI document (`openapi.rs`) that a test holds against the routes.

use axum::extract::DefaultBodyLimit;
use axum::{middleware, Router};
use isthmus_core::resources::{Event, Project};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

pub mod body;
mod ca;
mod cluster_move;
mod cluster_nodes;
mod clusters;
mod dns;
pub mod edge;
mod endpoint_services;
mod events;
mod lab;
mod me;
mod meta;
mod migration_reach;
mod migrations;
mod networks;
pub mod openapi;
pub mod params;
mod peerings;
pub mod problem;
mod project_delete;
mod projects;
pub(crate) mod reach;
pub mod resources;
mod respond;
pub mod routes;
mod sim;
mod sim_endpoints;
mod tokens;
mod vpn;
mod vpn_clients;
mod vpn_qr;

pub use problem::{ApiError, ApiResult, Problem};
pub use routes::Routes;
pub use tokens::{ProjectToken, TokenCreate, TokenCreated, TokenRotated};

use crate::metrics;
use crate::state::AppState;

/// Every route of the API, with metrics, the body limit, request tracing and the edge's
/// layers (request ids, problem+json for every error, caught panics, time limits).
pub fn router(state: AppState) -> Router {
    let router = routes()
        .into_router()
        .fallback(meta::no_route)
        .method_not_allowed_fallback(meta::no_method);
    edge::layers(router)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .layer(DefaultBodyLimit::max(body::BODY_LIMIT))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Every route the server answers: each registered kind's five, the bespoke ones, and
/// the console's pages.
pub fn routes() -> Routes {
    let mut r = Routes::default()
        .get("/healthz", meta::healthz)
        .get("/metrics", metrics::metrics)
        .get("/v1/openapi.json", meta::openapi)
        .get("/v1/dns/synced", dns::synced)
        .get("/v1/leader", meta::leader)
        .post("/v1/projects", projects::create)
        .get("/v1/projects", projects::list)
        .get("/v1/projects/{p}", projects::get)
        .delete("/v1/projects/{p}", project_delete::delete);
    for kind in crate::kinds::KINDS {
        r = kind.routes(r);
    }
    let r = r
        .post("/v1/projects/{p}/peerings/{id}/refresh", peerings::refresh)
        .post("/v1/projects/{p}/clusters/{id}/move", cluster_move::start)
        .delete(
            "/v1/projects/{p}/clusters/{id}/move",
            cluster_move::cancel_by_delete,
        )
        .post(
            "/v1/projects/{p}/clusters/{id}/move/cancel",
            cluster_move::cancel,
        )
        .post(
            "/v1/projects/{p}/migrations/{id}/translate",
            migrations::translate,
        )
        .post(
            "/v1/projects/{p}/migrations/{id}/verify",
            migrations::verify,
        )
        .post(
            "/v1/projects/{p}/migrations/{id}/cutover",
            migrations::cutover,
        )
        .post(
            "/v1/projects/{p}/migrations/{id}/reach",
            migration_reach::reach,
        )
        .get(
            "/v1/projects/{p}/endpoint-services/{id}/connections",
            endpoint_services::connections,
        )
        .post(
            "/v1/projects/{p}/endpoint-services/{id}/connections/{cid}/accept",
            endpoint_services::accept,
        )
        .post(
            "/v1/projects/{p}/endpoint-services/{id}/connections/{cid}/reject",
            endpoint_services::reject,
        )
        .post(
            "/v1/projects/{p}/vpn-gateways/{id}/clients",
            vpn_clients::create,
        )
        .get(
            "/v1/projects/{p}/vpn-gateways/{id}/clients",
            vpn_clients::list,
        )
        .get(
            "/v1/projects/{p}/vpn-gateways/{id}/clients/{cid}/config",
            vpn_clients::config,
        )
        .post(
            "/v1/projects/{p}/vpn-gateways/{id}/clients/{cid}/rotate",
            vpn_clients::rotate,
        )
        .post(
            "/v1/projects/{p}/clusters/{id}/nodes/{index}/replace",
            cluster_nodes::replace,
        )
        .get("/v1/projects/{p}/events", events::list)
        .post("/v1/projects/{p}/reachability", reach::analyze)
        .get("/v1/projects/{p}/ca.pem", ca::get)
        .get("/v1/projects/{p}/me", me::get)
        .post("/v1/projects/{p}/tokens", tokens::create)
        .get("/v1/projects/{p}/tokens", tokens::list)
        .delete("/v1/projects/{p}/tokens/{token_id}", tokens::revoke)
        .get("/v1/tokens", tokens::list_all)
        .delete("/v1/tokens/{token_id}", tokens::revoke_any)
        .post("/v1/tokens/{token_id}/rotate", tokens::rotate)
        .get("/v1/projects/{p}/members", tokens::members)
        .put("/v1/projects/{p}/members/{token_id}", tokens::set_member)
        .delete("/v1/projects/{p}/members/{token_id}", tokens::remove_member)
        .post("/v1/sim/{cloud}/vpcs", sim::create_vpc)
        .get("/v1/sim/vpcs", sim::list_vpcs)
        .get("/v1/sim/peerings/{peering_id}", sim::peering_view)
        .post(
            "/v1/sim/peerings/{peering_id}/{action}",
            sim::customer_action,
        )
        .post("/v1/sim/endpoints", sim_endpoints::create_endpoint)
        .get("/v1/sim/endpoints", sim_endpoints::list_endpoints)
        .post("/v1/sim/endpoints/delete", sim_endpoints::delete_endpoint)
        .post("/v1/sim/faults", sim::inject_fault)
        .put("/v1/sim/latency", sim::set_latency)
        .post("/v1/lab/vpcs", lab::create_vpc)
        .get("/v1/lab/vpcs", lab::list_vpcs)
        .delete("/v1/lab/vpcs/{name}", lab::delete_vpc)
        .post("/v1/lab/vpcs/{name}/hosts", lab::add_host)
        .delete("/v1/lab/vpcs/{name}/hosts/{host}", lab::delete_host)
        .post("/v1/lab/vpcs/{name}/hosts/{host}/exec", lab::exec)
        .post("/v1/lab/vpcs/{name}/endpoints", lab::create_endpoint)
        .delete(
            "/v1/lab/vpcs/{name}/endpoints/{endpoint}",
            lab::delete_endpoint,
        )
        .get("/v1/lab/endpoints", lab::list_endpoints)
        .post(
            "/v1/lab/vpcs/{name}/hosts/{host}/services",
            lab::add_service,
        )
        .delete(
            "/v1/lab/vpcs/{name}/hosts/{host}/services/{kind}",
            lab::delete_service,
        )
        .post(
            "/v1/lab/vpcs/{name}/hosts/{host}/services/{kind}/fill",
            lab::fill_service,
        )
        .get("/v1/lab/services", lab::list_services)
        .post("/v1/lab/internet/hosts", lab::add_internet_host)
        .get("/v1/lab/internet/hosts", lab::list_internet_hosts)
        .delete("/v1/lab/internet/hosts/{name}", lab::delete_internet_host);
    crate::console::routes(r)
}

macro_rules! page_schema {
    ($name:ident, $item:ty) => {
        /// One page of a list: `next_cursor` is null on the last page.
        #[derive(ToSchema)]
        #[allow(dead_code)] // documentation only: the handlers return `isthmus_store::Page`
        pub struct $name {
            pub items: Vec<$item>,
            pub next_cursor: Option<String>,
        }
    };
}

page_schema!(ProjectPage, Project);
page_schema!(EventPage, Event);

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The bespoke routes' part of the document; [`openapi::document`] adds each registered
/// kind's operations.
#[derive(OpenApi)]
#[openapi(
    info(title = "Isthmus API", version = "1", description = "Private networking for managed databases."),
    paths(
        meta::healthz, metrics::metrics, meta::openapi, dns::synced, meta::leader,
        projects::create, projects::list, projects::get, project_delete::delete,
        peerings::refresh,
        cluster_move::start, cluster_move::cancel, cluster_move::cancel_by_delete,
        migrations::translate, migrations::verify, migrations::cutover, migration_reach::reach,
        endpoint_services::connections, endpoint_services::accept, endpoint_services::reject,
        vpn_clients::create, vpn_clients::list, vpn_clients::config, vpn_clients::rotate,
        cluster_nodes::replace,
        events::list, ca::get, me::get, reach::analyze,
        tokens::create, tokens::members, tokens::set_member, tokens::remove_member,
        tokens::list, tokens::revoke, tokens::list_all, tokens::revoke_any, tokens::rotate,
        sim::create_vpc, sim::list_vpcs, sim::customer_action, sim::peering_view,
        sim::inject_fault, sim::set_latency,
        sim_endpoints::create_endpoint, sim_endpoints::list_endpoints, sim_endpoints::delete_endpoint,
        lab::create_vpc, lab::list_vpcs, lab::delete_vpc, lab::add_host, lab::delete_host,
        lab::exec, lab::add_service, lab::delete_service, lab::fill_service, lab::list_services,
        lab::list_internet_hosts, lab::add_internet_host, lab::delete_internet_host,
        lab::create_endpoint, lab::list_endpoints, lab::delete_endpoint,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;
