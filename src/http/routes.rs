//! A route table that remembers what it holds, so the OpenAPI document in `api-docs/` can be
//! checked against the routes the binary really serves (`cyclades routes`).

use axum::Router;
use axum::handler::Handler;
use axum::routing::{self, MethodRouter};

use super::AppState;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteInfo {
    pub method: &'static str,
    pub path: &'static str,
}

#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    list: Vec<RouteInfo>,
}

macro_rules! method {
    ($name:ident, $upper:literal) => {
        pub fn $name<H, T>(self, path: &'static str, handler: H) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add($upper, path, routing::$name(handler))
        }
    };
}

impl Routes {
    pub fn new() -> Routes {
        Routes::default()
    }

    fn add(mut self, method: &'static str, path: &'static str, mr: MethodRouter<AppState>) -> Self {
        // axum merges method routers registered on the same path.
        self.router = self.router.route(path, mr);
        self.list.push(RouteInfo { method, path });
        self
    }

    method!(get, "GET");
    method!(post, "POST");
    method!(put, "PUT");
    method!(patch, "PATCH");
    method!(delete, "DELETE");
    method!(head, "HEAD");

    pub fn into_parts(self) -> (Router<AppState>, Vec<RouteInfo>) {
        (self.router, self.list)
    }
}
