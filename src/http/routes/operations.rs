//! Health, readiness, the OpenAPI document and the Prometheus metrics.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use metrics::gauge;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::metrics::{
    BUILD_INFO, DB_POOL_CONNECTIONS, HASH_QUEUE_DEPTH, MAIL_WAITING, OUTBOX_OLDEST_AGE,
    OUTBOX_WAITING,
};

/// Health, readiness and this document; with `metrics` also GET /metrics (when it
/// is not on a listener of its own).
pub fn router(metrics: bool) -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(document));
    if metrics {
        router.routes(routes!(metrics_endpoint))
    } else {
        router
    }
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "{\"status\": \"ok\"}")))]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers and its schema is current: this replica can take traffic.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "{\"status\": \"ready\", \"store\": \"postgres\"}"),
        (status = 503, description = "The database is unreachable or not migrated, or the replica is shutting down"),
    ))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if state.draining.load(Ordering::Relaxed) {
        return Err(ApiError::NotReady("this replica is shutting down".into()));
    }
    match state.store.ready().await {
        Ok(()) => Ok(Json(
            json!({ "status": "ready", "store": state.store.kind() }),
        )),
        Err(err) => {
            tracing::warn!(error = format!("{err:#}"), "not ready");
            Err(ApiError::NotReady(
                "the database is unreachable or not migrated".into(),
            ))
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn document(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_ref().clone(),
    )
}

/// The Prometheus text of this replica, with the scrape-time gauges updated.
async fn render(state: &AppState) -> String {
    gauge!(HASH_QUEUE_DEPTH).set(state.hasher.pending() as f64);
    match state.store.outbox_stats().await {
        Ok((waiting, oldest)) => {
            gauge!(OUTBOX_WAITING).set(waiting as f64);
            let age = oldest.map_or(0.0, |t| {
                (state.clock.now() - t).num_milliseconds().max(0) as f64 / 1e3
            });
            gauge!(OUTBOX_OLDEST_AGE).set(age);
        }
        Err(err) => tracing::warn!(
            error = format!("{err:#}"),
            "reading the outbox for /metrics"
        ),
    }
    match state.store.mail_stats().await {
        Ok((waiting, _)) => gauge!(MAIL_WAITING).set(waiting as f64),
        Err(err) => tracing::warn!(
            error = format!("{err:#}"),
            "reading the mail outbox for /metrics"
        ),
    }
    let (size, idle, max) = state.store.pool_status();
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use")
        .set((size as usize).saturating_sub(idle) as f64);
    gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(idle as f64);
    gauge!(DB_POOL_CONNECTIONS, "state" => "max").set(max as f64);
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "git_sha" => env!("AUTHD_GIT_SHA"))
        .set(1.0);
    state.metrics.render()
}

/// GET /metrics in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format (version 0.0.4)", content_type = "text/plain")))]
pub async fn metrics_endpoint(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state).await,
    )
}
