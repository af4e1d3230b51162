//! One error type at the HTTP edge: one match per aspect (status, type, detail)
//! of one enum, so a new error is added here; `problem` answers it as
//! `application/problem+json` (RFC 9457).

use axum::http::StatusCode;

use crate::domain::FieldError;
use crate::store::Taken;

/// Seconds a refused client should wait before retrying.
pub const RETRY_AFTER_SECS: u64 = 1;
/// A full disk waits for an operator: retrying every second would only add load.
pub const FULL_RETRY_AFTER_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request body: {0}")]
    BadRequest(String),
    #[error("invalid path: {0}")]
    BadPath(String),
    #[error("invalid header: {0}")]
    BadHeader(&'static str),
    /// `waited`: this answer already waited about a lease for the holder, which
    /// still renews it, so the client may retry at once (`Retry-After: 0`): its retry
    /// waits on the server again, and gets the answer as soon as it is kept.
    #[error("a request with this idempotency key is in progress")]
    KeyInProgress { waited: bool },
    #[error("too many keyed requests in flight")]
    KeysInFlight,
    #[error("the idempotency key was used for another request")]
    KeyReused,
    #[error("unsupported content type")]
    UnsupportedMediaType,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("{} is taken", .0.field())]
    Conflict(Taken),
    #[error("overloaded")]
    Overloaded,
    #[error("wrong login or password")]
    InvalidCredentials,
    #[error("too many failed attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// No usable access token; `None`: none was sent.
    #[error("unauthorized")]
    Unauthorized(Option<&'static str>),
    #[error("forbidden")]
    Forbidden,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("the account is locked")]
    Locked,
    #[error("the email is not verified")]
    EmailNotVerified,
    /// The change needs a recent login (or the current password): RFC 9470's
    /// step-up challenge.
    /// `aal2`: the user has a second factor, and the recent authentication must
    /// have used it (POST /auth/reauthenticate with a code).
    #[error("reauthentication required")]
    ReauthenticationRequired { max_age_secs: u64, aal2: bool },
    /// The `mfa_token` of a login's second step is unknown, expired, spent or
    /// ended by wrong codes.
    #[error("invalid mfa token")]
    InvalidMfaToken,
    /// A one-time code or recovery code that does not match (or was used).
    #[error("wrong code")]
    WrongCode { ended: bool },
    /// A WebAuthn ceremony's id that is unknown, expired or spent.
    #[error("invalid ceremony")]
    InvalidCeremony,
    /// An authenticator's answer webauthn-rs refused, or an unknown or cloned passkey.
    #[error("passkey refused")]
    PasskeyRefused,
    /// Passkeys are not configured here (`AUTHD_WEBAUTHN_RP_ID`).
    #[error("passkeys are off")]
    PasskeysOff,
    /// The operation needs a second factor the user does not have, or one that
    /// it already has (409).
    #[error("{0}")]
    FactorState(&'static str),
    /// A resend asked of a server that does not verify emails.
    #[error("email verification is off")]
    VerificationOff,
    #[error("invalid account token")]
    InvalidAccountToken,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("not ready: {0}")]
    NotReady(String),
    /// The database cannot be reached right now (down, restarting, refusing
    /// connections, or no connection within the pool's acquire timeout).
    #[error("the database is unavailable")]
    Unavailable(anyhow::Error),
    /// The database has no room left to write (its disk is full).
    #[error("the database is full")]
    StorageFull(anyhow::Error),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl ApiError {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::BadPath(_) | ApiError::BadHeader(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::KeyInProgress { .. } => StatusCode::CONFLICT,
            ApiError::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) | ApiError::VerificationOff | ApiError::FactorState(_) => {
                StatusCode::CONFLICT
            }
            ApiError::Overloaded
            | ApiError::NotReady(_)
            | ApiError::Unavailable(_)
            | ApiError::StorageFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InvalidCredentials
            | ApiError::InvalidRefreshToken
            | ApiError::Unauthorized(_)
            | ApiError::ReauthenticationRequired { .. }
            | ApiError::InvalidMfaToken
            | ApiError::InvalidCeremony
            | ApiError::PasskeyRefused
            | ApiError::WrongCode { .. } => StatusCode::UNAUTHORIZED,
            ApiError::TooManyAttempts { .. } | ApiError::KeysInFlight => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Forbidden
            | ApiError::WrongPassword
            | ApiError::Locked
            | ApiError::EmailNotVerified => StatusCode::FORBIDDEN,
            // Like an invalid refresh token: a credential that proves nothing.
            ApiError::InvalidAccountToken => StatusCode::UNAUTHORIZED,
            ApiError::NotFound | ApiError::PasskeysOff => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// (type, title): a stable machine-readable type and a human title.
    pub(super) fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => {
                ("urn:authd:problem:malformed-body", "Malformed request body")
            }
            ApiError::BadPath(_) => ("urn:authd:problem:invalid-path", "Invalid path"),
            ApiError::BadHeader(_) => ("urn:authd:problem:invalid-header", "Invalid header"),
            ApiError::KeyInProgress { .. } => (
                "urn:authd:problem:idempotency-key-in-progress",
                "A request with this Idempotency-Key is in progress",
            ),
            ApiError::KeysInFlight => (
                "urn:authd:problem:idempotency-keys-in-flight",
                "Too many keyed requests in flight",
            ),
            ApiError::KeyReused => (
                "urn:authd:problem:idempotency-key-reused",
                "Idempotency-Key reused for another request",
            ),
            ApiError::UnsupportedMediaType => (
                "urn:authd:problem:unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::PayloadTooLarge => {
                ("urn:authd:problem:body-too-large", "Request body too large")
            }
            ApiError::BodyTimeout => ("urn:authd:problem:body-timeout", "Request body too slow"),
            ApiError::Invalid(_) => ("urn:authd:problem:invalid-fields", "Invalid fields"),
            ApiError::Conflict(_) => ("urn:authd:problem:conflict", "Already taken"),
            ApiError::Overloaded => ("urn:authd:problem:overloaded", "Overloaded, retry later"),
            ApiError::InvalidCredentials => (
                "urn:authd:problem:invalid-credentials",
                "Invalid credentials",
            ),
            ApiError::TooManyAttempts { .. } => (
                "urn:authd:problem:too-many-attempts",
                "Too many failed attempts",
            ),
            ApiError::InvalidRefreshToken => (
                "urn:authd:problem:invalid-refresh-token",
                "Invalid refresh token",
            ),
            ApiError::Unauthorized(_) => ("urn:authd:problem:unauthorized", "Unauthorized"),
            ApiError::Forbidden => ("urn:authd:problem:forbidden", "Forbidden"),
            ApiError::WrongPassword => ("urn:authd:problem:wrong-password", "Wrong password"),
            ApiError::Locked => ("urn:authd:problem:account-locked", "Account locked"),
            ApiError::EmailNotVerified => {
                ("urn:authd:problem:email-not-verified", "Email not verified")
            }
            ApiError::InvalidAccountToken => {
                ("urn:authd:problem:invalid-token", "Invalid or expired link")
            }
            ApiError::VerificationOff => (
                "urn:authd:problem:verification-off",
                "Email verification is off",
            ),
            ApiError::ReauthenticationRequired { .. } => (
                "urn:authd:problem:reauthentication-required",
                "Reauthentication required",
            ),
            ApiError::InvalidMfaToken => (
                "urn:authd:problem:invalid-mfa-token",
                "Invalid or expired mfa_token",
            ),
            ApiError::WrongCode { .. } => ("urn:authd:problem:wrong-code", "Wrong code"),
            ApiError::FactorState(_) => ("urn:authd:problem:factor-state", "Factor state"),
            ApiError::InvalidCeremony => (
                "urn:authd:problem:invalid-ceremony",
                "Invalid or expired ceremony",
            ),
            ApiError::PasskeyRefused => ("urn:authd:problem:passkey-refused", "Passkey refused"),
            ApiError::PasskeysOff => ("urn:authd:problem:passkeys-off", "Passkeys off"),
            ApiError::NotFound => ("about:blank", "Not Found"),
            ApiError::MethodNotAllowed => ("about:blank", "Method Not Allowed"),
            ApiError::NotReady(_) => ("urn:authd:problem:not-ready", "Not ready"),
            ApiError::Unavailable(_) => (
                "urn:authd:problem:database-unavailable",
                "Database unavailable, retry later",
            ),
            ApiError::StorageFull(_) => (
                "urn:authd:problem:storage-full",
                "The database is full, retry later",
            ),
            ApiError::Internal(_) => ("about:blank", "Internal Server Error"),
        }
    }

    pub(super) fn detail(&self) -> String {
        match self {
            ApiError::BadRequest(why) => format!("the body is not valid JSON: {why}"),
            ApiError::BadPath(why) => why.clone(),
            ApiError::BadHeader(why) => (*why).into(),
            ApiError::KeyInProgress { waited: false } => format!(
                "the first request with this key has not finished; retry in {RETRY_AFTER_SECS} s"
            ),
            ApiError::KeyInProgress { waited: true } => {
                "the first request with this key still runs after this answer waited for it; \
                 retry now: the retry waits for its answer"
                    .into()
            }
            ApiError::KeyReused => {
                "this Idempotency-Key was sent with another request: use a new key per request".into()
            }
            ApiError::KeysInFlight => format!(
                "this client has the most requests with an Idempotency-Key running at once; \
                 retry in {RETRY_AFTER_SECS} s"
            ),
            ApiError::UnsupportedMediaType => {
                "send the body as Content-Type: application/json".into()
            }
            ApiError::PayloadTooLarge => {
                format!("the body may be at most {} bytes", crate::http::BODY_LIMIT)
            }
            ApiError::BodyTimeout => "the request body did not arrive in time".into(),
            ApiError::Invalid(errors) => format!("{} field(s) are invalid", errors.len()),
            ApiError::Conflict(taken) => format!("this {} is already registered", taken.field()),
            ApiError::Overloaded => {
                format!("too many requests are waiting; retry in {RETRY_AFTER_SECS} s")
            }
            ApiError::InvalidCredentials => "the login or the password is wrong".into(),
            ApiError::TooManyAttempts { retry_after_secs } => format!(
                "too many failed logins or mail requests for this account or address; retry in {retry_after_secs} s"
            ),
            ApiError::InvalidRefreshToken => {
                "the refresh token is unknown, expired, revoked or already used".into()
            }
            ApiError::Unauthorized(None) => {
                "send an access token: Authorization: Bearer <token>".into()
            }
            ApiError::Unauthorized(Some(why)) => format!("the access token is not valid: {why}"),
            ApiError::Forbidden => "an access token may act only on its own user".into(),
            ApiError::WrongPassword => "the current password does not match".into(),
            ApiError::Locked => "an administrator locked this account".into(),
            ApiError::EmailNotVerified => "confirm your email address with the link mailed to it \
                 (POST /auth/verify/resend sends another)"
                .into(),
            ApiError::InvalidAccountToken => {
                "the token is unknown, expired, already used or replaced by a newer one".into()
            }
            ApiError::VerificationOff => "this server does not verify email addresses \
                 (AUTHD_EMAIL_VERIFICATION=off): there is no link to send"
                .into(),
            ApiError::ReauthenticationRequired {
                max_age_secs,
                aal2: false,
            } => format!(
                "this change needs a login within the last {max_age_secs} s: log in again \
                 (POST /auth/reauthenticate, or send current_password where taken) and retry"
            ),
            ApiError::ReauthenticationRequired {
                max_age_secs,
                aal2: true,
            } => format!(
                "this change needs a login with your second factor within the last \
                 {max_age_secs} s: POST /auth/reauthenticate with your password and a code \
                 (or send current_password where taken) and retry"
            ),
            ApiError::InvalidMfaToken => "the mfa_token is unknown, expired, already used, or \
                 ended by wrong codes: log in again"
                .into(),
            ApiError::WrongCode { ended: false } => {
                "the code does not match, or was already used".into()
            }
            ApiError::WrongCode { ended: true } => {
                "the code does not match, or was already used; too many wrong codes ended \
                 this mfa_token: log in again"
                    .into()
            }
            ApiError::FactorState(why) => (*why).into(),
            ApiError::InvalidCeremony => "the ceremony is unknown, expired or already \
                 finished: start it again"
                .into(),
            ApiError::PasskeyRefused => "the authenticator's answer was refused (another \
                 origin or challenge, no user verification, an unknown or cloned passkey)"
                .into(),
            ApiError::PasskeysOff => "passkeys are off on this server (AUTHD_WEBAUTHN_RP_ID \
                 and AUTHD_WEBAUTHN_ORIGINS are unset)"
                .into(),
            ApiError::NotFound => "no such resource".into(),
            ApiError::MethodNotAllowed => "this resource does not support the method".into(),
            ApiError::NotReady(why) => why.clone(),
            // The cause is logged, never sent: it may name tables, hosts or values.
            ApiError::Unavailable(_) => format!(
                "the database cannot be reached right now; nothing was changed; retry in {RETRY_AFTER_SECS} s"
            ),
            ApiError::StorageFull(_) => format!(
                "the database has no room left to write; nothing was changed; retry in {FULL_RETRY_AFTER_SECS} s"
            ),
            ApiError::Internal(_) => "an internal error occurred; it has been logged".into(),
        }
    }
}
