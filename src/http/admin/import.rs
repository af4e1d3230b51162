//! POST /admin/users/import: the JSON lines of `authd users import`, over HTTP.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::Admin;
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// The largest import body: about 50,000 users a request.
pub const IMPORT_LIMIT: usize = 16 * 1024 * 1024;

/// What an import did: `refused` lists each bad line with its number and reason.
#[derive(Serialize, ToSchema)]
pub struct ImportReport {
    imported: usize,
    skipped: usize,
    #[schema(value_type = Vec<Object>)]
    refused: Vec<crate::import::Refused>,
}

#[utoipa::path(post, path = "/admin/users/import", tag = "admin",
    request_body(content = String, content_type = "application/x-ndjson",
        description = "JSON lines of {id?, username, email, email_verified?, created_at?, password_hash}, as `authd users import` reads them; 16 MiB at most"),
    responses(
        (status = 200, description = "Every line checked on its own: imported (authd.user.imported each, saying who), skipped (a user with its id is there: a re-run imports nothing twice), or refused with its line and reason", body = ImportReport),
        (status = 400, description = "An empty body: no line to import"),
        (status = 401, description = "No admin token, or not one of AUTHD_ADMIN_TOKENS_FILE"),
        (status = 413, description = "The body is over 16 MiB"),
        (status = 415, description = "Not UTF-8 text"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn import(
    State(state): State<AppState>,
    admin: Admin,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<ImportReport>, ApiError> {
    let body = body.map_err(|_| ApiError::PayloadTooLarge)?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::UnsupportedMediaType)?;
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "the body holds no users (one JSON object a line)".into(),
        ));
    }
    let report = crate::import::import(
        &state.store,
        text,
        500,
        Some(&admin.actor()),
        state.clock.now(),
    )
    .await?;
    tracing::info!(
        admin = admin.0,
        imported = report.imported,
        skipped = report.skipped,
        refused = report.refused.len(),
        "admin imported users"
    );
    Ok(Json(ImportReport {
        imported: report.imported,
        skipped: report.skipped,
        refused: report.refused,
    }))
}
