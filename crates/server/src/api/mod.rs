//! The REST API v1 (see notes/api.md): axum routers, one file per resource, errors as
//! problem+json, and the OpenAPI document generated from the handlers.

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::{middleware, Router};
use isthmus_core::resources::{Cluster, Event, Network, Peering, Project};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

pub mod body;
mod ca;
mod clusters;
pub mod edge;
mod events;
mod lab;
mod me;
mod meta;
mod networks;
pub mod params;
mod peerings;
pub mod problem;
mod projects;
mod reach;
mod respond;
mod sim;
mod tokens;

pub use problem::{ApiError, ApiResult, Problem};
pub use tokens::{ProjectToken, TokenCreate, TokenCreated, TokenRotated};

use crate::metrics;
use crate::state::AppState;

/// Every route of the API, with metrics, the body limit, request tracing and the edge's
/// layers (request ids, problem+json for every error, caught panics, time limits).
pub fn router(state: AppState) -> Router {
    let router = Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/openapi.json", get(meta::openapi))
        .route("/v1/projects", post(projects::create).get(projects::list))
        .route("/v1/projects/{p}", get(projects::get))
        .route(
            "/v1/projects/{p}/networks",
            post(networks::create).get(networks::list),
        )
        .route(
            "/v1/projects/{p}/networks/{id}",
            get(networks::get)
                .patch(networks::update)
                .delete(networks::delete),
        )
        .route(
            "/v1/projects/{p}/peerings",
            post(peerings::create).get(peerings::list),
        )
        .route(
            "/v1/projects/{p}/peerings/{id}",
            get(peerings::get)
                .patch(peerings::update)
                .delete(peerings::delete),
        )
        .route(
            "/v1/projects/{p}/peerings/{id}/refresh",
            post(peerings::refresh),
        )
        .route(
            "/v1/projects/{p}/clusters",
            post(clusters::create).get(clusters::list),
        )
        .route(
            "/v1/projects/{p}/clusters/{id}",
            get(clusters::get)
                .patch(clusters::update)
                .delete(clusters::delete),
        )
        .route("/v1/projects/{p}/events", get(events::list))
        .route("/v1/projects/{p}/reachability", post(reach::analyze))
        .route("/v1/projects/{p}/ca.pem", get(ca::get))
        .route("/v1/projects/{p}/me", get(me::get))
        .route(
            "/v1/projects/{p}/tokens",
            post(tokens::create).get(tokens::list),
        )
        .route("/v1/projects/{p}/tokens/{token_id}", delete(tokens::revoke))
        .route("/v1/tokens", get(tokens::list_all))
        .route("/v1/tokens/{token_id}", delete(tokens::revoke_any))
        .route("/v1/tokens/{token_id}/rotate", post(tokens::rotate))
        .route("/v1/projects/{p}/members", get(tokens::members))
        .route(
            "/v1/projects/{p}/members/{token_id}",
            put(tokens::set_member).delete(tokens::remove_member),
        )
        .route("/v1/sim/{cloud}/vpcs", post(sim::create_vpc))
        .route("/v1/sim/vpcs", get(sim::list_vpcs))
        .route("/v1/sim/peerings/{peering_id}", get(sim::peering_view))
        .route(
            "/v1/sim/peerings/{peering_id}/{action}",
            post(sim::customer_action),
        )
        .route("/v1/sim/faults", post(sim::inject_fault))
        .route("/v1/sim/latency", put(sim::set_latency))
        .route("/v1/lab/vpcs", post(lab::create_vpc).get(lab::list_vpcs))
        .route("/v1/lab/vpcs/{name}", delete(lab::delete_vpc))
        .route("/v1/lab/vpcs/{name}/hosts", post(lab::add_host))
        .route("/v1/lab/vpcs/{name}/hosts/{host}", delete(lab::delete_host))
        .route("/v1/lab/vpcs/{name}/hosts/{host}/exec", post(lab::exec))
        .route(
            "/v1/lab/internet/hosts",
            post(lab::add_internet_host).get(lab::list_internet_hosts),
        )
        .route(
            "/v1/lab/internet/hosts/{name}",
            delete(lab::delete_internet_host),
        )
        .merge(crate::console::routes())
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
page_schema!(NetworkPage, Network);
page_schema!(PeeringPage, Peering);
page_schema!(ClusterPage, Cluster);
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

#[derive(OpenApi)]
#[openapi(
    info(title = "Isthmus API", version = "1", description = "Private networking for managed databases."),
    paths(
        meta::healthz, metrics::metrics, meta::openapi,
        projects::create, projects::list, projects::get,
        networks::create, networks::list, networks::get, networks::update, networks::delete,
        peerings::create, peerings::list, peerings::get, peerings::update, peerings::delete,
        peerings::refresh,
        clusters::create, clusters::list, clusters::get, clusters::update, clusters::delete,
        events::list, ca::get, me::get, reach::analyze,
        tokens::create, tokens::members, tokens::set_member, tokens::remove_member,
        tokens::list, tokens::revoke, tokens::list_all, tokens::revoke_any, tokens::rotate,
        sim::create_vpc, sim::list_vpcs, sim::customer_action, sim::peering_view,
        sim::inject_fault, sim::set_latency,
        lab::create_vpc, lab::list_vpcs, lab::delete_vpc, lab::add_host, lab::delete_host,
        lab::exec, lab::list_internet_hosts, lab::add_internet_host, lab::delete_internet_host,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;
