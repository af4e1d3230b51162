//! POST /auth/reauthenticate: step-up without logging out. The password, and a
//! code once the user has a second factor, give a fresh access token of the same
//! session; its refreshes carry the new `auth_time` and `amr` on.

use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::mfa::proof;
use crate::authn::mfa::{self, AMR_MFA};
use crate::authn::password;
use crate::domain::Password;
use crate::http::auth::Bearer;
use crate::http::client_ip::ClientIp;
use crate::http::error::ApiError;
use crate::http::extract::{Body, Fields};
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::tokens::Grant;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reauthenticate))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// POST /auth/reauthenticate: the password, and a code when the user has a factor.
#[derive(Deserialize, ToSchema)]
pub struct ReauthenticateRequest {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    password: Option<Value>,
    /// Six digits (required when the user has a second factor; or `recovery_code`).
    #[schema(value_type = String, required = false, pattern = "^[0-9]{6}$")]
    code: Option<Value>,
    #[schema(value_type = String, required = false, min_length = 1, max_length = 64)]
    recovery_code: Option<Value>,
}

/// A fresh access token of the same session.
#[derive(Serialize, ToSchema)]
pub struct Reauthenticated {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

#[utoipa::path(post, path = "/auth/reauthenticate", operation_id = "reauthenticate", tag = "mfa", security(("bearer" = [])),
    request_body = ReauthenticateRequest,
    responses(
        (status = 200, description = "An access token of the same session whose auth_time is now (and amr, acr the factors used); the session's refreshes carry them on", body = Reauthenticated),
        (status = 401, description = "No valid access token, a wrong code (wrong-code), or no code from a user with a second factor (reauthentication-required, acr_values=\"aal2\")"),
        (status = 403, description = "Wrong password (wrong-password)"),
        (status = 409, description = "20 wrong codes in a row blocked the authenticator (factor-state): a recovery code frees it"),
        (status = 422, description = "No password, or both code and recovery_code"),
        (status = 429, description = "Too many wrong passwords or codes; Retry-After"),
        (status = 503, description = "The hashing queue is full, or the database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn reauthenticate(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    bearer: Bearer,
    Body(body): Body<ReauthenticateRequest>,
) -> Result<Response, ApiError> {
    let account = bearer.account(&state).await?;
    let has_factor = state.store.has_factor(account.user.id).await?;
    let mut fields = Fields::default();
    let password = fields.required("password", body.password, Password::presented);
    // No code at all: the password alone (for a user with a factor, the 401
    // below says a code is wanted). A code sent is checked, malformed or not.
    let sent = |v: &Option<Value>| !matches!(v, None | Some(Value::Null));
    let proof = match sent(&body.code) || sent(&body.recovery_code) {
        true => proof(&mut fields, body.code, body.recovery_code),
        false => None,
    };
    // A malformed field is refused even when the rest would do (a user with no
    // factor sending `"code": []`).
    let (Some(password), true) = (password, fields.is_clean()) else {
        return Err(fields.into_error());
    };
    if has_factor && proof.is_none() {
        // The password alone reaches aal1; this user's highest level is aal2.
        return Err(ApiError::ReauthenticationRequired {
            max_age_secs: state.tokens.config.reauth_max_age.as_secs(),
            aal2: true,
        });
    }
    password::confirm(&state, &account, client, password).await?;
    let now = state.clock.now();
    let amr: Vec<&str> = match &proof {
        Some(proof) => {
            mfa::verify(&state, account.user.id, client, proof, now).await?;
            AMR_MFA.to_vec()
        }
        None => vec!["pwd"],
    };
    let session = bearer
        .0
        .sid
        .ok_or(ApiError::Unauthorized(Some("no session")))?;
    state
        .store
        .reauthenticate_session(session, now, &amr.join(","))
        .await?;
    let grant = Grant {
        user: account.user.id,
        session,
        email_verified: account.user.email_verified,
        auth_time: now,
        amr: amr.iter().map(|m| m.to_string()).collect(),
    };
    let (access_token, expires_in) = state.tokens.issue(&grant, now).await;
    tracing::info!(user_id = %account.user.id, "reauthenticated");
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    let body = Reauthenticated {
        access_token,
        token_type: "Bearer",
        expires_in,
    };
    Ok((no_store, Json(body)).into_response())
}
