//! Logging in with a passkey: alone (usernameless: the browser offers the user's
//! passkeys), or as the second step after a password (`POST /auth/login/mfa`
//! takes the assertion; the options come from here).

use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::passkeys::{answer, ceremony, CeremonyStarted};
use crate::authn::mfa::{self, Presenter};
use crate::authn::{passkey, TokenResponse};
use crate::domain::TOKEN_MAX_CHARS;
use crate::http::client_ip::{user_agent, ClientIp};
use crate::http::error::ApiError;
use crate::http::extract::{Body, Fields};
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_login))
        .routes(routes!(finish_login))
        .routes(routes!(start_second_factor))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// Whose login it is, optionally: without, the browser offers any of the user's
/// passkeys (usernameless); with, only that user's passkey logs in.
#[derive(Deserialize, ToSchema)]
pub struct StartLogin {
    /// A username or email.
    #[schema(value_type = String, required = false, min_length = 1, max_length = 254)]
    login: Option<Value>,
}

#[utoipa::path(post, path = "/auth/login/passkey/options", operation_id = "start_passkey_login", tag = "passkey",
    request_body = StartLogin,
    responses(
        (status = 200, description = "The options for navigator.credentials.get (no credentials listed, whoever `login` names: the browser offers the user's passkeys), and the ceremony to finish with POST /auth/login/passkey within 5 minutes", body = CeremonyStarted),
        (status = 422, description = "login is not a string of at most 254 characters"),
        (status = 404, description = "Passkeys are off (passkeys-off)"),
        (status = 429, description = "This client network has 100 ceremonies started; Retry-After"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn start_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Body(body): Body<StartLogin>,
) -> Result<Response, ApiError> {
    let mut fields = Fields::default();
    let login = fields.optional("login", body.login, |s| {
        if s.chars().count() > 254 {
            Err("must be at most 254 characters".to_string())
        } else {
            Ok(s)
        }
    });
    if !fields.is_clean() {
        return Err(fields.into_error());
    }
    let now = state.clock.now();
    let (ceremony, options) =
        passkey::start_login(&state, login.flatten().as_deref(), client, now).await?;
    CeremonyStarted::respond(ceremony, &options)
}

/// The authenticator's answer to a login.
#[derive(Deserialize, ToSchema)]
pub struct FinishLogin {
    /// The `ceremony` of POST /auth/login/passkey/options.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    ceremony: Option<Value>,
    /// The PublicKeyCredential of navigator.credentials.get, binary fields in
    /// base64url (id, rawId, type, response.authenticatorData,
    /// response.clientDataJSON, response.signature, response.userHandle).
    #[schema(value_type = Object, required = true)]
    credential: Option<Value>,
}

#[utoipa::path(post, path = "/auth/login/passkey", operation_id = "finish_passkey_login", tag = "passkey",
    request_body = FinishLogin,
    responses(
        (status = 200, description = "Tokens (amr pop, mfa; acr aal2: the authenticator verified its user); the ceremony is spent", body = TokenResponse),
        (status = 401, description = "The ceremony is unknown, expired or spent (invalid-ceremony), or the answer was refused: another origin or RP ID, another challenge, no user verification, an unknown passkey, another user's than the login named, a counter that went back (passkey-refused)"),
        (status = 403, description = "The account is locked, or its email is not verified (AUTHD_EMAIL_VERIFICATION=required)"),
        (status = 404, description = "Passkeys are off (passkeys-off)"),
        (status = 422, description = "No ceremony or no credential"),
        (status = 429, description = "Too many refused answers from this client network; Retry-After"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn finish_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Body(body): Body<FinishLogin>,
) -> Result<TokenResponse, ApiError> {
    let mut fields = Fields::default();
    let token = ceremony(&mut fields, body.ceremony);
    let answer = answer(&mut fields, "credential", body.credential);
    let (Some(token), Some(answer)) = (token, answer) else {
        return Err(fields.into_error());
    };
    let answer = answer.ok_or(ApiError::PasskeyRefused)?;
    let agent = user_agent(&headers);
    let from = (client, agent.as_deref());
    passkey::finish_login(&state, &token, &answer, from, state.clock.now()).await
}

/// The `mfa_token` of a password step that a passkey is to finish.
#[derive(Deserialize, ToSchema)]
pub struct SecondFactorOptions {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    mfa_token: Option<Value>,
}

/// The options of a passkey assertion for an `mfa_token`.
#[derive(Serialize, ToSchema)]
pub struct AssertionOptions {
    /// For navigator.credentials.get; send its answer to POST /auth/login/mfa as
    /// `passkey`, with the `mfa_token`.
    #[schema(value_type = Object)]
    options: Value,
    expires_in: i64,
}

#[utoipa::path(post, path = "/auth/login/mfa/passkey", operation_id = "start_passkey_second_factor", tag = "mfa",
    request_body = SecondFactorOptions,
    responses(
        (status = 200, description = "The options for navigator.credentials.get, allowing the user's passkeys (a new call replaces the last)", body = AssertionOptions),
        (status = 401, description = "The mfa_token is unknown, expired, spent, or another client's (invalid-mfa-token)"),
        (status = 404, description = "Passkeys are off (passkeys-off)"),
        (status = 409, description = "The user has no passkey (factor-state)"),
        (status = 422, description = "No mfa_token"),
        (status = 429, description = "This client network has 100 ceremonies started; Retry-After"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn start_second_factor(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Body(body): Body<SecondFactorOptions>,
) -> Result<Response, ApiError> {
    let mut fields = Fields::default();
    let token = fields.required("mfa_token", body.mfa_token, |s| {
        if s.chars().count() > TOKEN_MAX_CHARS {
            Err(format!("must be at most {TOKEN_MAX_CHARS} characters"))
        } else {
            Ok(s)
        }
    });
    let Some(token) = token else {
        return Err(fields.into_error());
    };
    let presenter = Presenter::of(client, &headers);
    let options = mfa::start_passkey(&state, &token, &presenter, state.clock.now()).await?;
    let options = serde_json::to_value(options).map_err(anyhow::Error::from)?;
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    let body = AssertionOptions {
        options,
        expires_in: passkey::CEREMONY_TTL_SECS,
    };
    Ok((no_store, Json(body)).into_response())
}
