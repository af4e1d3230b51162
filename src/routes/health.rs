use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::startup::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
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
        (status = 503, description = "The database is unreachable or not migrated", body = crate::openapi::Problem, content_type = "application/problem+json"),
    ))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
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
