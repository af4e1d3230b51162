//! Second factors: the login's second step, the factors' status, recovery codes
//! (an authenticator's enrolment and removal: `totp.rs`; re-authentication:
//! `reauthenticate.rs`).

use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::authn::mfa::{self, Presenter, Proof};
use crate::authn::recovery_codes;
use crate::authn::{stepup, TokenResponse};
use crate::domain::TOKEN_MAX_CHARS;
use crate::http::auth::Bearer;
use crate::http::client_ip::ClientIp;
use crate::http::error::ApiError;
use crate::http::extract::{Body, Fields};
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::store::UserChange;
use crate::tokens::refresh;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login_mfa))
        .routes(routes!(status))
        .routes(routes!(regenerate))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// A code: six digits from the authenticator, or a recovery code.
#[derive(Deserialize, ToSchema)]
pub struct SecondFactorRequest {
    /// The `mfa_token` of the password step.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    mfa_token: Option<Value>,
    /// Six digits from the authenticator app; or send `recovery_code`.
    #[schema(value_type = String, required = false, pattern = "^[0-9]{6}$")]
    code: Option<Value>,
    /// One of the recovery codes (`xxxx-xxxx-xxxx-xxxx`), spent by its use.
    #[schema(value_type = String, required = false, min_length = 1, max_length = 64)]
    recovery_code: Option<Value>,
    /// A passkey's answer (the PublicKeyCredential of navigator.credentials.get,
    /// binary fields in base64url) to the options of POST /auth/login/mfa/passkey.
    #[schema(value_type = Object, required = false)]
    passkey: Option<Value>,
}

/// The proof of a request: exactly one of `code` and `recovery_code`.
pub(super) fn proof(
    fields: &mut Fields,
    code: Option<Value>,
    recovery: Option<Value>,
) -> Option<Proof> {
    let short = |s: String| {
        if s.chars().count() > recovery_codes::RECOVERY_CODE_MAX_CHARS {
            Err(format!(
                "must be at most {} characters",
                recovery_codes::RECOVERY_CODE_MAX_CHARS
            ))
        } else {
            Ok(s)
        }
    };
    let code = fields.optional("code", code, short)?;
    let recovery = fields.optional("recovery_code", recovery, short)?;
    match (code, recovery) {
        (Some(code), None) => Some(Proof::Totp(code)),
        (None, Some(recovery)) => Some(Proof::Recovery(recovery)),
        (Some(_), Some(_)) => fields.refuse("code", "send code or recovery_code, not both"),
        (None, None) => fields.refuse("code", "send code (or recovery_code)"),
    }
}

fn short(fields: &mut Fields, name: &'static str, value: Option<Value>) -> Option<String> {
    fields.required(name, value, |s| {
        if s.chars().count() > TOKEN_MAX_CHARS {
            Err(format!("must be at most {TOKEN_MAX_CHARS} characters"))
        } else {
            Ok(s)
        }
    })
}

#[utoipa::path(post, path = "/auth/login/mfa", operation_id = "login_mfa", tag = "mfa",
    request_body = SecondFactorRequest,
    responses(
        (status = 200, description = "Tokens (amr pwd, otp, mfa, or pwd, pop, mfa for a passkey; acr aal2); the mfa_token is spent", body = TokenResponse),
        (status = 401, description = "The mfa_token is unknown, expired, spent or ended (invalid-mfa-token), or the code does not match or was used before (wrong-code; three end the mfa_token)"),
        (status = 403, description = "The account was locked meanwhile"),
        (status = 409, description = "20 wrong codes in a row blocked the authenticator (factor-state): a recovery code frees it"),
        (status = 422, description = "No mfa_token, or not exactly one of code, recovery_code and passkey"),
        (status = 429, description = "Too many wrong codes for this user or client; Retry-After"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn login_mfa(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Body(body): Body<SecondFactorRequest>,
) -> Result<TokenResponse, ApiError> {
    let mut fields = Fields::default();
    let token = short(&mut fields, "mfa_token", body.mfa_token);
    let proof = match body.passkey {
        None => proof(&mut fields, body.code, body.recovery_code),
        Some(_) if body.code.is_some() || body.recovery_code.is_some() => {
            fields.refuse("passkey", "send one of code, recovery_code and passkey")
        }
        passkey => {
            let answer = super::passkeys::answer(&mut fields, "passkey", passkey);
            let ceremony = token.as_deref().and_then(|t| refresh::hash_of(t.trim()));
            match (answer, ceremony) {
                (Some(Some(answer)), Some(ceremony)) => Some(Proof::Passkey {
                    answer: Box::new(answer),
                    ceremony,
                }),
                (Some(None), Some(_)) => return Err(ApiError::PasskeyRefused),
                (Some(_), None) => return Err(ApiError::InvalidMfaToken),
                _ => None,
            }
        }
    };
    let (Some(token), Some(proof)) = (token, proof) else {
        return Err(fields.into_error());
    };
    let presenter = Presenter::of(client, &headers);
    mfa::finish_login(&state, &token, proof, &presenter, state.clock.now()).await
}

/// A user's second factors.
#[derive(Serialize, ToSchema)]
pub struct MfaStatus {
    /// Whether a confirmed factor guards the login.
    enabled: bool,
    factors: Vec<FactorView>,
    /// Unused recovery codes.
    recovery_codes_left: i64,
}

#[derive(Serialize, ToSchema)]
pub struct FactorView {
    id: uuid::Uuid,
    /// `totp`.
    kind: String,
    /// False until the first code confirmed it (a pending enrolment).
    confirmed: bool,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_at: Option<DateTime<Utc>>,
}

impl From<crate::store::Factor> for FactorView {
    fn from(f: crate::store::Factor) -> Self {
        FactorView {
            id: f.id,
            kind: f.kind,
            confirmed: f.confirmed_at.is_some(),
            created_at: f.created_at,
            last_used_at: f.last_used_at,
        }
    }
}

/// The factors of `user`, as users and admins see them.
pub async fn status_of(state: &AppState, user: uuid::Uuid) -> Result<MfaStatus, ApiError> {
    let factors: Vec<FactorView> = state
        .store
        .factors(user)
        .await?
        .into_iter()
        .map(FactorView::from)
        .collect();
    Ok(MfaStatus {
        enabled: factors.iter().any(|f| f.confirmed),
        factors,
        recovery_codes_left: state.store.recovery_codes_left(user).await?,
    })
}

#[utoipa::path(get, path = "/auth/mfa", operation_id = "mfa_status", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's factors and how many recovery codes are left", body = MfaStatus),
        (status = 401, description = "Missing, invalid, expired or revoked access token"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn status(
    State(state): State<AppState>,
    bearer: Bearer,
) -> Result<Json<MfaStatus>, ApiError> {
    let account = bearer.account(&state).await?;
    Ok(Json(status_of(&state, account.user.id).await?))
}

/// New recovery codes.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

#[utoipa::path(post, path = "/auth/mfa/recovery-codes", operation_id = "regenerate_recovery_codes", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "Ten new recovery codes, shown once; the old ones are void (authd.user.recovery_codes_regenerated)", body = RecoveryCodes),
        (status = 401, description = "No valid access token, or no recent login with the second factor (reauthentication-required)"),
        (status = 409, description = "The caller has no second factor (factor-state)"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn regenerate(State(state): State<AppState>, bearer: Bearer) -> Result<Response, ApiError> {
    let account = bearer.account(&state).await?;
    let now = state.clock.now();
    stepup::require_recent(&state, &bearer.0, now).await?;
    let (recovery_codes, digests) = recovery_codes::new();
    let change = UserChange::RegenerateRecoveryCodes {
        id: account.user.id,
        codes: &digests,
    };
    state
        .store
        .apply(change, now)
        .await?
        .ok_or(ApiError::FactorState(
            "recovery codes need a second factor: enrol one first",
        ))?;
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    Ok((no_store, Json(RecoveryCodes { recovery_codes })).into_response())
}
