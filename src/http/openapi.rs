//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations: routes are registered through `utoipa_axum::routes!`, so a route
//! and its documentation are one declaration. Served at GET /openapi.json.

use serde::Serialize;
use utoipa::openapi::schema::AdditionalProperties;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, Schema};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::domain::Denylist;
use crate::http::problem::{Problem, ProblemField};

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
        (name = "mfa", description = "Second factors (TOTP, recovery codes), the login's second step, re-authentication"),
        (name = "passkey", description = "Passkeys (WebAuthn): registering and managing them, and a login with a passkey alone"),
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

/// Request bodies that take exactly one of their fields (422 for more or none),
/// stated as JSON Schema's `oneOf` of the `required`s.
const ONE_OF: [(&str, &[&str]); 2] = [
    ("CreateUserRequest", &["password", "password_hash"]),
    ("SecondFactorRequest", &["code", "recovery_code", "passkey"]),
];

/// Request bodies that take at most one of two fields (422 for both), stated as
/// `not` the two `required` together.
const AT_MOST_ONE: [(&str, [&str; 2]); 1] = [("ReauthenticateRequest", ["code", "recovery_code"])];

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
            for (name, fields) in ONE_OF {
                if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                    let one_of: Vec<_> = fields
                        .iter()
                        .map(|field| serde_json::json!({ "required": [field] }))
                        .collect();
                    object
                        .extensions
                        .get_or_insert_with(Default::default)
                        .insert("oneOf".into(), serde_json::Value::Array(one_of));
                }
            }
            for (name, fields) in AT_MOST_ONE {
                if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                    object
                        .extensions
                        .get_or_insert_with(Default::default)
                        .insert("not".into(), serde_json::json!({ "required": fields }));
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

/// The password fields that become a password, and say what the denylist refuses.
const NEW_PASSWORDS: [(&str, &str); 4] = [
    ("SignUpRequest", "password"),
    ("ResetRequest", "password"),
    ("ChangePasswordRequest", "new_password"),
    ("CreateUserRequest", "password"),
];

/// States in the document what the denylist refuses, so that a client (and the
/// fuzzer) can tell a refused password from a valid one: the built-in list as a
/// `not: {pattern}` matching its entries in any case; a list from a file only by
/// name (it may hold millions of hashes).
pub struct DenylistStated<'a>(pub &'a Denylist);

impl Modify for DenylistStated<'_> {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for (schema, field) in NEW_PASSWORDS {
            let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
                continue;
            };
            let Some(RefOr::T(Schema::Object(property))) = object.properties.get_mut(field) else {
                continue;
            };
            let Some(entries) = self.0.stated() else {
                continue;
            };
            let pattern = format!(
                "^(?:{})$",
                entries
                    .iter()
                    .map(|e| any_case(e))
                    .collect::<Vec<_>>()
                    .join("|")
            );
            property
                .extensions
                .get_or_insert_with(Default::default)
                .insert("not".into(), serde_json::json!({ "pattern": pattern }));
        }
    }
}

/// `text` as a regular expression (ECMA 262 and Python alike) that matches it in
/// any letter case: `Ab1` becomes `[aA][bB]1`.
fn any_case(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            } else if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::domain::{Denylist, Email, Password, Username, LOGIN_MAX_CHARS, TOKEN_MAX_CHARS};
    use crate::hashing::ImportedFormat;

    /// (minLength, maxLength, pattern) a field's rule gives it in the document.
    type Bounds = (Option<usize>, Option<usize>, Option<String>);

    /// The bounds each request field must state: the domain's constants, so the
    /// rules are typed once, in `domain`, and the document cannot drift from them.
    fn expected(schema: &str, field: &str) -> Option<Bounds> {
        let (p_min, p_max) = (Password::MIN_CHARS, Password::MAX_CHARS);
        Some(match (schema, field) {
            (_, "username") => (
                Some(Username::MIN_LEN),
                Some(Username::MAX_LEN),
                Some(Username::PATTERN.to_string()),
            ),
            (_, "email") => (None, Some(Email::MAX_LEN), None),
            ("LoginRequest", "login") => (Some(1), Some(LOGIN_MAX_CHARS), Some("\\S".into())),
            // What is checked against a stored hash: any length up to the bound.
            ("LoginRequest" | "DeleteUserRequest" | "ReauthenticateRequest", "password") => {
                (Some(1), Some(p_max), None)
            }
            (_, "current_password") => (Some(1), Some(p_max), None),
            // What becomes a password: the full rule.
            (_, "password" | "new_password") => (Some(p_min), Some(p_max), None),
            (_, "token" | "mfa_token") => (Some(1), Some(TOKEN_MAX_CHARS), None),
            (_, "code") => (None, None, Some(crate::authn::totp::CODE_PATTERN.into())),
            (_, "recovery_code") => (
                Some(1),
                Some(crate::authn::recovery_codes::RECOVERY_CODE_MAX_CHARS),
                None,
            ),
            (_, "password_hash") => (None, Some(ImportedFormat::MAX_LEN), None),
            _ => return None,
        })
    }

    fn bounds(property: &Value) -> Bounds {
        let n = |key: &str| {
            property
                .get(key)
                .and_then(Value::as_u64)
                .map(|n| n as usize)
        };
        let pattern = property.get("pattern").and_then(Value::as_str);
        (n("minLength"), n("maxLength"), pattern.map(String::from))
    }

    fn check(document: &str) -> usize {
        let document: Value = serde_json::from_str(document).unwrap();
        let mut checked = 0;
        let schemas = document["components"]["schemas"].as_object().unwrap();
        // Request bodies: what a client sends is what the rules bound.
        for (schema, body) in schemas.iter().filter(|(name, _)| name.ends_with("Request")) {
            let Some(properties) = body["properties"].as_object() else {
                continue;
            };
            for (field, property) in properties {
                let stated = bounds(property);
                match expected(schema, field) {
                    Some(want) => {
                        assert_eq!(stated, want, "{schema}.{field}");
                        checked += 1;
                    }
                    None => assert_eq!(
                        stated,
                        (None, None, None),
                        "{schema}.{field} states bounds no domain rule gives"
                    ),
                }
            }
        }
        checked
    }

    #[test]
    fn the_documents_state_the_domain_rules_of_every_field() {
        let denylist = Denylist::built_in();
        assert!(check(&crate::startup::openapi_json(true, &denylist)) >= 12);
        assert!(check(&crate::http::admin::openapi_json(&denylist)) >= 4);
    }

    #[test]
    fn the_built_in_denylist_is_stated_as_a_pattern_of_any_case() {
        let document = crate::startup::openapi_json(true, &Denylist::built_in());
        let document: Value = serde_json::from_str(&document).unwrap();
        let schemas = &document["components"]["schemas"];
        let pattern = schemas["SignUpRequest"]["properties"]["password"]["not"]["pattern"]
            .as_str()
            .unwrap();
        assert!(
            pattern.starts_with("^(?:[pP][aA][sS][sS][wW][oO][rR][dD]|"),
            "{pattern}"
        );
        assert!(pattern.contains("|12345678|"), "{pattern}");
        assert_eq!(
            schemas["ResetRequest"]["properties"]["password"]["not"]["pattern"],
            pattern
        );
        let off = crate::startup::openapi_json(true, &Denylist::default());
        let off: Value = serde_json::from_str(&off).unwrap();
        for (schema, field) in [("SignUpRequest", "password"), ("ResetRequest", "password")] {
            let property = &off["components"]["schemas"][schema]["properties"][field];
            assert!(
                property.get("not").is_none(),
                "a list that cannot be stated is not: {schema}.{field}"
            );
        }
    }

    #[test]
    fn any_case_escapes_what_is_not_a_letter_or_digit() {
        assert_eq!(super::any_case("Ab1"), "[aA][bB]1");
        assert_eq!(super::any_case("p@ss"), "[pP]\\u0040[sS][sS]");
    }
}
