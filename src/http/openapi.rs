//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations: routes are registered through `utoipa_axum::routes!`, so a route
//! and its documentation are one declaration. Served at GET /openapi.json.

use serde::Serialize;
use utoipa::openapi::schema::AdditionalProperties;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, Schema};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::http::error::{Problem, ProblemField};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authd",
        description = "Sign-up and login service: users, EdDSA access tokens verified by \
                       other services with the JWKS, rotating refresh tokens, and the account \
                       lifecycle. Every error is application/problem+json (RFC 9457)."
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem, ProblemField)),
    tags(
        (name = "users", description = "Sign-up and the account lifecycle"),
        (name = "session", description = "Login, refresh, logout"),
        (name = "recovery", description = "Email verification and password recovery, by mailed single-use tokens"),
        (name = "keys", description = "Public keys for verifying access tokens"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

/// Every 4xx and 5xx answer is a problem: the handlers' annotations give the
/// status and its description, this adds the `application/problem+json` body, and
/// the answers every JSON body can get from the extractor (400, 408, 413, 415)
/// where an annotation did not name them. Run on the whole document, once the
/// routes have added their paths.
pub struct ProblemResponses;

/// What the JSON body extractor may answer on any operation that takes a body.
const BODY_ANSWERS: [(u16, &str); 4] = [
    (400, "Malformed JSON"),
    (408, "The body did not arrive within AUTHD_BODY_TIMEOUT_MS"),
    (413, "The body is over 16 KiB"),
    (415, "Not a JSON content type"),
];

/// Any operation: the request line and headers over 16 KiB. hyper answers it
/// before routing, with no body.
const HEAD_TOO_LARGE: &str =
    "The request line and headers are over 16 KiB (answered before routing, no body)";

/// Request bodies that refuse fields they do not know and need at least one field
/// (422), so the document says `additionalProperties: false, minProperties: 1`.
const CLOSED_BODIES: [&str; 1] = ["PatchUserRequest"];

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            for name in CLOSED_BODIES {
                if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                    object.min_properties = Some(1);
                }
            }
        }
        let problem = Content::new(Some(Ref::from_schema_name("Problem")));
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("431".to_string())
                    .or_insert_with(|| RefOr::T(Response::new(HEAD_TOO_LARGE)));
                if operation.request_body.is_some() {
                    for (status, description) in BODY_ANSWERS {
                        operation
                            .responses
                            .responses
                            .entry(status.to_string())
                            .or_insert_with(|| RefOr::T(Response::new(description)));
                    }
                }
                for (status, response) in operation.responses.responses.iter_mut() {
                    let error = status.starts_with('4') || status.starts_with('5');
                    // 431 comes from the HTTP layer, before any route: no body.
                    if let (true, false, RefOr::T(response)) = (error, status == "431", response) {
                        response
                            .content
                            .insert("application/problem+json".into(), problem.clone());
                    }
                }
            }
        }
    }
}

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT (EdDSA)".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}

/// GET /.well-known/jwks.json.
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<crate::tokens::Jwk>,
}
