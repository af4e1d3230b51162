use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving HTTP.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers and its schema is current: this replica can take traffic.
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
