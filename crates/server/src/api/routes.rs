//! The router, built through a recorder that keeps the list of every method and path it
//! serves, so a test can hold that list against the OpenAPI document: a route missing
//! from the document (or documented but not served) fails the build's tests, not a
//! client.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter};
use axum::Router;

use crate::state::AppState;

/// A router under construction, with the `(method, path)` of every route added so far.
pub struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, String)>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            table: Vec::new(),
        }
    }
}

impl Routes {
    /// Serves `method path` with `handler`. A path given again gets the new method added
    /// (axum merges the two), so each line names one operation, as the document does.
    pub fn add<H, T>(mut self, method: Method, path: &str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("axum routes no {method} (at {path})"));
        self.router = self.router.route(path, on(filter, handler));
        self.table.push((method, path.to_string()));
        self
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::GET, path, handler)
    }
    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::POST, path, handler)
    }
    pub fn put<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::PUT, path, handler)
    }
    pub fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::PATCH, path, handler)
    }
    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::DELETE, path, handler)
    }

    /// Every `(method, path)` added, in the order they were.
    pub fn table(&self) -> &[(Method, String)] {
        &self.table
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
