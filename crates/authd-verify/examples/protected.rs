//! A service of your own behind authd's tokens, in a page: `GET /hello` answers the
//! token's user (and how it logged in: `amr`, `acr`), or 401 for a missing,
//! invalid, expired or revoked token; `GET /sensitive` also wants a login with a
//! second factor (`acr` = `aal2`), else 403. It never
//! calls authd per request: keys come from the JWKS (once, and again for an unknown
//! kid), revocations from Kafka.
//!
//!   AUTHD_JWKS_URL=http://127.0.0.1:8080/.well-known/jwks.json \
//!   AUTHD_KAFKA_BROKERS=127.0.0.1:9092 \
//!   cargo run -p authd-verify --example protected
//!
//! Also read: AUTHD_TOKEN_ISSUER and AUTHD_TOKEN_AUDIENCE (default authd),
//! AUTHD_KAFKA_TOPIC (default authd.user-events), LISTEN (default 127.0.0.1:8090).
//! Prints `listening on ADDR` once it serves.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use authd_verify::{Verifier, VerifierConfig};

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

async fn hello(
    State(verifier): State<Verifier>,
    headers: HeaderMap,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| {
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": "no bearer token" })),
            )
        })?;
    match verifier.verify(token).await {
        Ok(claims) => Ok(Json(json!({
            "user": claims.sub,
            "session": claims.sid,
            "amr": claims.amr,
            "acr": claims.acr,
        }))),
        Err(refused) => Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": refused.to_string() })),
        )),
    }
}

/// A route that wants a login with a second factor: `acr` is `aal2` (the user
/// proved a code or a passkey besides the password), else 403.
async fn sensitive(
    State(verifier): State<Verifier>,
    headers: HeaderMap,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let Json(who) = hello(State(verifier), headers).await?;
    if who["acr"] != "aal2" {
        return Err((
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "this needs a login with a second factor (acr aal2)" })),
        ));
    }
    Ok(Json(who))
}

/// How many times this service fetched authd's JWKS.
async fn stats(State(verifier): State<Verifier>) -> Json<Value> {
    Json(json!({ "jwks_fetches": verifier.jwks_fetches() }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = VerifierConfig::new(
        &var(
            "AUTHD_JWKS_URL",
            "http://127.0.0.1:8080/.well-known/jwks.json",
        ),
        &var("AUTHD_TOKEN_ISSUER", "authd"),
        &var("AUTHD_TOKEN_AUDIENCE", "authd"),
        std::env::var("AUTHD_KAFKA_BROKERS").ok(),
    );
    config.topic = var("AUTHD_KAFKA_TOPIC", "authd.user-events");
    let verifier = Verifier::start(config).await?;
    let app = Router::new()
        .route("/hello", get(hello))
        .route("/sensitive", get(sensitive))
        .route("/stats", get(stats))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind(var("LISTEN", "127.0.0.1:8090")).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
