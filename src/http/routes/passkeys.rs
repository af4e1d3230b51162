//! A user's passkeys: registering one (two requests: the options, then the
//! authenticator's answer), listing, renaming and removing them. Logging in with
//! one: `passkey_login.rs`.

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::authn::passkey::{self, NAME_MAX_CHARS};
use crate::authn::{stepup, MfaPolicy};
use crate::domain::TOKEN_MAX_CHARS;
use crate::http::auth::Bearer;
use crate::http::client_ip::ClientIp;
use crate::http::error::ApiError;
use crate::http::extract::{Body, Fields};
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::store::{StoredPasskey, UserChange};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_registration))
        .routes(routes!(finish_registration, list))
        .routes(routes!(rename, remove))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// A ceremony started: its id, to send back with the answer, and the options for
/// the browser (`navigator.credentials.create` or `.get`, binary fields in
/// base64url).
#[derive(Serialize, ToSchema)]
pub struct CeremonyStarted {
    ceremony: String,
    #[schema(value_type = Object)]
    options: Value,
    /// Seconds the ceremony waits for its answer.
    expires_in: i64,
}

impl CeremonyStarted {
    pub fn respond(ceremony: String, options: &impl Serialize) -> Result<Response, ApiError> {
        let options = serde_json::to_value(options).map_err(anyhow::Error::from)?;
        let started = CeremonyStarted {
            ceremony,
            options,
            expires_in: passkey::CEREMONY_TTL_SECS,
        };
        let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
        Ok((no_store, Json(started)).into_response())
    }
}

/// A passkey as its owner (and an admin) sees it.
#[derive(Serialize, ToSchema)]
pub struct PasskeyView {
    id: Uuid,
    name: String,
    /// The counter of its last assertion (0 for authenticators that keep none).
    sign_count: i64,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_at: Option<DateTime<Utc>>,
}

impl From<StoredPasskey> for PasskeyView {
    fn from(p: StoredPasskey) -> Self {
        PasskeyView {
            id: p.id,
            name: p.name,
            sign_count: p.sign_count,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

#[utoipa::path(post, path = "/auth/passkeys/registration", operation_id = "start_passkey_registration", tag = "passkey", security(("bearer" = [])),
    responses(
        (status = 200, description = "The options for navigator.credentials.create (the caller's passkeys excluded), and the ceremony to finish with POST /auth/passkeys within 5 minutes", body = CeremonyStarted),
        (status = 401, description = "No valid access token, or no recent login at the caller's level (reauthentication-required)"),
        (status = 404, description = "Passkeys are off (passkeys-off)"),
        (status = 429, description = "This client network has 100 ceremonies started; Retry-After"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn start_registration(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    bearer: Bearer,
) -> Result<Response, ApiError> {
    let account = bearer.account(&state).await?;
    let now = state.clock.now();
    stepup::require_recent(&state, &bearer.0, now).await?;
    let (ceremony, options) = passkey::start_registration(&state, &account, client, now).await?;
    CeremonyStarted::respond(ceremony, &options)
}

/// The authenticator's answer to a registration.
#[derive(Deserialize, ToSchema)]
pub struct FinishRegistration {
    /// The `ceremony` of POST /auth/passkeys/registration.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    ceremony: Option<Value>,
    /// The PublicKeyCredential of navigator.credentials.create, binary fields in
    /// base64url (id, rawId, type, response.attestationObject, response.clientDataJSON).
    #[schema(value_type = Object, required = true)]
    credential: Option<Value>,
    /// A label the user knows it by ("laptop"); default "passkey".
    #[schema(value_type = String, required = false, min_length = 1, max_length = 64)]
    name: Option<Value>,
}

/// A new passkey, and the recovery codes it made (shown once) when the user had none.
#[derive(Serialize, ToSchema)]
pub struct Registered {
    passkey: PasskeyView,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

pub(super) fn ceremony(fields: &mut Fields, value: Option<Value>) -> Option<String> {
    fields.required("ceremony", value, |s| {
        if s.chars().count() > TOKEN_MAX_CHARS {
            Err(format!("must be at most {TOKEN_MAX_CHARS} characters"))
        } else {
            Ok(s)
        }
    })
}

/// The authenticator's answer: 422 unless an object; an object that is no
/// WebAuthn credential is an answer refused (401 `passkey-refused`), like one
/// whose signature does not hold: `Some(None)`.
pub(super) fn answer<T: serde::de::DeserializeOwned>(
    fields: &mut Fields,
    name: &'static str,
    value: Option<Value>,
) -> Option<Option<T>> {
    match value {
        Some(Value::Object(object)) => Some(serde_json::from_value(Value::Object(object)).ok()),
        Some(_) => fields.refuse(
            name,
            "must be the credential object the authenticator answered",
        ),
        None => fields.refuse(name, "send the credential the authenticator answered"),
    }
}

/// A passkey's label: trimmed, control characters dropped, "passkey" when
/// nothing is left; 422 past 64 characters.
fn name(fields: &mut Fields, value: Option<Value>) -> Option<String> {
    let name = fields.optional("name", value, |s| {
        let s: String = s.chars().filter(|c| !c.is_control()).collect();
        match s.trim() {
            s if s.chars().count() > NAME_MAX_CHARS => {
                Err(format!("must be at most {NAME_MAX_CHARS} characters"))
            }
            "" => Ok("passkey".to_string()),
            s => Ok(s.to_string()),
        }
    })?;
    Some(name.unwrap_or_else(|| "passkey".into()))
}

#[utoipa::path(post, path = "/auth/passkeys", operation_id = "finish_passkey_registration", tag = "passkey", security(("bearer" = [])),
    request_body = FinishRegistration,
    responses(
        (status = 201, description = "The passkey is a factor from now on (authd.user.passkey_added); recovery codes when the caller had none, shown once", body = Registered),
        (status = 401, description = "No valid access token; the ceremony is unknown, expired, spent or another user's (invalid-ceremony); or the answer was refused: another origin or RP ID, another challenge, no user verification (passkey-refused)"),
        (status = 404, description = "Passkeys are off (passkeys-off)"),
        (status = 409, description = "This passkey is registered already (factor-state)"),
        (status = 422, description = "No ceremony, a credential that is not an object, or a name over 64 characters"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn finish_registration(
    State(state): State<AppState>,
    bearer: Bearer,
    Body(body): Body<FinishRegistration>,
) -> Result<Response, ApiError> {
    let mut fields = Fields::default();
    let token = ceremony(&mut fields, body.ceremony);
    let answer = answer(&mut fields, "credential", body.credential);
    let name = name(&mut fields, body.name);
    let (Some(token), Some(answer), Some(name)) = (token, answer, name) else {
        return Err(fields.into_error());
    };
    let answer = answer.ok_or(ApiError::PasskeyRefused)?;
    let account = bearer.account(&state).await?;
    let now = state.clock.now();
    let registered =
        passkey::finish_registration(&state, &account, &token, &name, &answer, now).await?;
    let body = Registered {
        passkey: registered.passkey.into(),
        recovery_codes: registered.recovery_codes,
    };
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    Ok((StatusCode::CREATED, no_store, Json(body)).into_response())
}

#[utoipa::path(get, path = "/auth/passkeys", operation_id = "list_passkeys", tag = "passkey", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's passkeys, oldest first", body = Vec<PasskeyView>),
        (status = 401, description = "Missing, invalid, expired or revoked access token"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    bearer: Bearer,
) -> Result<Json<Vec<PasskeyView>>, ApiError> {
    let account = bearer.account(&state).await?;
    let passkeys = state.store.passkeys(account.user.id).await?;
    Ok(Json(passkeys.into_iter().map(PasskeyView::from).collect()))
}

/// A new label.
#[derive(Deserialize, ToSchema)]
pub struct Rename {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64)]
    name: Option<Value>,
}

type PassKeyId = Result<Path<Uuid>, axum::extract::rejection::PathRejection>;

fn passkey_id(id: PassKeyId) -> Result<Uuid, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::BadPath("the passkey id must be a UUID".into()))?;
    Ok(id)
}

#[utoipa::path(patch, path = "/auth/passkeys/{id}", operation_id = "rename_passkey", tag = "passkey", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "A passkey id from GET /auth/passkeys")),
    request_body = Rename,
    responses(
        (status = 200, description = "The passkey with its new name", body = PasskeyView),
        (status = 400, description = "The id is not a UUID"),
        (status = 401, description = "Missing, invalid, expired or revoked access token"),
        (status = 404, description = "The caller has no passkey with this id"),
        (status = 422, description = "No name, or one over 64 characters"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn rename(
    State(state): State<AppState>,
    bearer: Bearer,
    id: PassKeyId,
    Body(body): Body<Rename>,
) -> Result<Json<PasskeyView>, ApiError> {
    let id = passkey_id(id)?;
    let mut fields = Fields::default();
    let name = match body.name {
        None => fields.refuse("name", "send the new name"),
        value => name(&mut fields, value),
    };
    let Some(name) = name else {
        return Err(fields.into_error());
    };
    let account = bearer.account(&state).await?;
    let user = account.user.id;
    if !state.store.rename_passkey(user, id, &name).await? {
        return Err(ApiError::NotFound);
    }
    let passkeys = state.store.passkeys(user).await?;
    let renamed = passkeys.into_iter().find(|p| p.id == id);
    Ok(Json(renamed.ok_or(ApiError::NotFound)?.into()))
}

#[utoipa::path(delete, path = "/auth/passkeys/{id}", operation_id = "remove_passkey", tag = "passkey", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "A passkey id from GET /auth/passkeys")),
    responses(
        (status = 204, description = "The passkey is removed (authd.user.passkey_removed); the recovery codes go with the last factor"),
        (status = 400, description = "The id is not a UUID"),
        (status = 401, description = "No valid access token, or no recent login at the caller's level (reauthentication-required)"),
        (status = 404, description = "The caller has no passkey with this id"),
        (status = 409, description = "It is the caller's last factor and AUTHD_MFA=required (factor-state)"),
        (status = 503, description = "The database is unavailable or full; Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
async fn remove(
    State(state): State<AppState>,
    bearer: Bearer,
    id: PassKeyId,
) -> Result<StatusCode, ApiError> {
    let id = passkey_id(id)?;
    let account = bearer.account(&state).await?;
    let user = account.user.id;
    let now = state.clock.now();
    stepup::require_recent(&state, &bearer.0, now).await?;
    let factors = state.store.factors(user).await?;
    let confirmed = factors.iter().filter(|f| f.confirmed_at.is_some());
    let others = confirmed.filter(|f| f.id != id).count();
    let required = state.mfa.policy == MfaPolicy::Required;
    if others == 0 && required && factors.iter().any(|f| f.id == id) {
        return Err(ApiError::FactorState(
            "this is your last factor and every account needs one here: add another first",
        ));
    }
    let keep_one = state.mfa.policy == MfaPolicy::Required;
    let change = UserChange::RemovePasskey {
        id: user,
        passkey: id,
        keep_one,
    };
    state
        .store
        .apply(change, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(user_id = %user, factor_id = %id, "a passkey was removed");
    Ok(StatusCode::NO_CONTENT)
}
