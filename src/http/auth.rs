//! `Authorization: Bearer <access token>` on authd's own endpoints.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::Account;
use crate::tokens::{Claims, TokenError};

/// A request with a valid access token.
pub struct Bearer(pub Claims);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts, "expected: Bearer <token>")?;
        let claims = state
            .tokens
            .verify(token, state.clock.now())
            .await
            .map_err(|e| ApiError::Unauthorized(Some(reason(e))))?;
        Ok(Bearer(claims))
    }
}

/// The token of `Authorization: Bearer <token>`; `malformed` says what a header
/// of another shape gets.
pub fn bearer_token<'a>(parts: &'a Parts, malformed: &'static str) -> Result<&'a str, ApiError> {
    parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(None))?
        .to_str()
        .ok()
        .and_then(|h| {
            let (scheme, token) = h.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .ok_or(ApiError::Unauthorized(Some(malformed)))
}

fn reason(err: TokenError) -> &'static str {
    match err {
        TokenError::Malformed => "malformed",
        TokenError::Algorithm => "unsupported algorithm",
        TokenError::UnknownKey => "unknown key",
        TokenError::Signature => "bad signature",
        TokenError::Expired => "expired",
        TokenError::NotYetValid => "not valid yet",
        TokenError::WrongAudience => "wrong issuer or audience",
    }
}

impl Bearer {
    /// The token's user, which must still exist, in a session that is still live
    /// (logout, a password change and refresh-token theft revoke the session), and
    /// issued no earlier than the user's `not_before` (password change, lock).
    pub async fn account(&self, state: &AppState) -> Result<Account, ApiError> {
        let claims = &self.0;
        let account = state
            .store
            .account(claims.sub)
            .await?
            .ok_or(ApiError::Unauthorized(Some("the user no longer exists")))?;
        let sid = claims
            .sid
            .ok_or(ApiError::Unauthorized(Some("no session")))?;
        let issued_at = chrono::DateTime::from_timestamp(claims.iat, 0)
            .ok_or(ApiError::Unauthorized(Some("malformed")))?;
        if !state.store.session_live(sid, claims.sub, issued_at).await? {
            return Err(ApiError::Unauthorized(Some("the session has ended")));
        }
        Ok(account)
    }

    /// The account `id`, which must be the token's own.
    pub async fn own(&self, state: &AppState, id: Uuid) -> Result<Account, ApiError> {
        if id != self.0.sub {
            return Err(ApiError::Forbidden);
        }
        self.account(state).await
    }
}
