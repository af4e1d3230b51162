//! The admin API, on its own listener (`AUTHD_ADMIN_LISTEN`), never behind nginx:
//! users by prefix and cursor, one user, create (a password or an argon2id hash),
//! lock, unlock, end every session, delete, a user's sessions and event history.
//! Every call needs `Authorization: Bearer <token>` of a `name:token` line of
//! `AUTHD_ADMIN_TOKENS_FILE`, checked once for every route on the router; every
//! event an admin causes says `admin:<name>` in its `authdactor` attribute. Its
//! own OpenAPI document, GET /admin/openapi.json, is the one call without a token.

mod factors;
mod history;
mod import;
pub use import::IMPORT_LIMIT;
mod locks;
mod passkeys;
mod users;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::{middleware, Router};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::Denylist;
use crate::http::auth::bearer_token;
use crate::http::error::ApiError;
use crate::http::openapi::{DenylistStated, ProblemResponses};
use crate::http::problem::{Problem, ProblemField};
use crate::http::request_id;
use crate::http::state::AppState;

/// An administrator, by the name its token is listed under.
#[derive(Debug, Clone)]
pub struct Admin(pub String);

impl Admin {
    /// What the events it causes say: `admin:<name>`.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.0)
    }
}

/// Authenticates every route of the admin API, on the router (`route_layer`),
/// so that a handler cannot forget it: the admin's name goes into the request's
/// extensions, where the `Admin` extractor finds it.
async fn require_admin(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // The console (`ui::console`) calls in process for the admin it signed in;
    // no request from a socket carries this extension.
    if request.extensions().get::<Admin>().is_some() {
        return Ok(next.run(request).await);
    }
    let credentials = state.admin.as_ref().ok_or(ApiError::Unauthorized(Some(
        "the admin API is not configured",
    )))?;
    let (mut parts, body) = request.into_parts();
    let token = bearer_token(&parts, "expected: Bearer <admin token>")?;
    let Some(name) = credentials.verify(token) else {
        tracing::warn!("admin API: a request with an unknown token");
        return Err(ApiError::Unauthorized(Some("not an admin token")));
    };
    parts.extensions.insert(Admin(name.to_string()));
    request = Request::from_parts(parts, body);
    Ok(next.run(request).await)
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    /// The admin `require_admin` let in; a route outside its layer finds none and
    /// answers 401, so a misplaced route fails closed.
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Admin>()
            .cloned()
            .ok_or(ApiError::Unauthorized(Some("not an admin token")))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authd admin API",
        description = "Served only on AUTHD_ADMIN_LISTEN, never through the gateway. Every \
                       operation needs Authorization: Bearer <admin token> (AUTHD_ADMIN_TOKENS_FILE). \
                       Every error is application/problem+json (RFC 9457)."
    ),
    modifiers(&AdminAuth),
    components(schemas(Problem, ProblemField)),
    tags((name = "admin", description = "Users, locks, sessions and event history")),
    security(("admin" = []))
)]
struct AdminDoc;

struct AdminAuth;

impl Modify for AdminAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(AdminDoc::openapi())
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::read, locks::remove))
        .routes(routes!(locks::lock))
        .routes(routes!(locks::unlock))
        .routes(routes!(locks::logout))
        .routes(routes!(history::sessions))
        .routes(routes!(history::events))
        .routes(routes!(factors::list, factors::remove))
        .routes(routes!(passkeys::list))
        .routes(routes!(passkeys::remove))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(import::import))
                .layer(DefaultBodyLimit::max(import::IMPORT_LIMIT)),
        )
}

/// The admin API's OpenAPI 3.1 document, as JSON.
pub fn openapi_json(denylist: &Denylist) -> String {
    let mut document = api().split_for_parts().1;
    ProblemResponses.modify(&mut document);
    DenylistStated(denylist).modify(&mut document);
    document
        .to_pretty_json()
        .expect("the admin OpenAPI document serializes")
}

/// The admin API's routes, each behind `require_admin`.
pub fn routes(state: AppState) -> Router {
    let (routes, _) = api().split_for_parts();
    routes
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin))
        .with_state(state)
}

/// The admin listener: `routes`, and `console` (the pages at /admin/ui/, which
/// call `routes` in process) when the pages are on.
pub fn router(state: AppState, routes: Router, console: Option<Router>) -> Router {
    let document = openapi_json(&state.denylist);
    let routes = match console {
        Some(console) => routes.merge(console),
        None => routes,
    };
    routes
        // The document holds no data (the same as docs/ in the repository):
        // served without a token, so tools can read it before they have one.
        .route(
            "/admin/openapi.json",
            axum::routing::get(move || async move {
                ([("content-type", "application/json")], document).into_response()
            }),
        )
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state, request_id::trace))
}
