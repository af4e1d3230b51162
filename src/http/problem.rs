//! How an `ApiError` is answered: an RFC 9457 problem (`application/problem+json`)
//! with the headers its kind calls for (`Retry-After`, `WWW-Authenticate`), and
//! its cause logged, never sent.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::{ApiError, FULL_RETRY_AFTER_SECS, RETRY_AFTER_SECS};

/// An RFC 9457 problem, as every error is answered.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// A stable URN such as `urn:authd:problem:conflict`, or `about:blank`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// For field problems (409, 422): each field and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub errors: Vec<ProblemField>,
}

#[derive(Serialize, ToSchema)]
pub struct ProblemField {
    pub field: &'static str,
    pub reason: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "request failed")
            }
            ApiError::Unavailable(err) => {
                tracing::warn!(error = format!("{err:#}"), "database unavailable")
            }
            // An operator must make room: an error, not a warning.
            ApiError::StorageFull(err) => {
                tracing::error!(error = format!("{err:#}"), "database full")
            }
            _ => {}
        }
        let (kind, title) = self.kind();
        let errors = match &self {
            ApiError::Invalid(errors) => errors
                .iter()
                .map(|e| ProblemField {
                    field: e.field,
                    reason: e.reason.clone(),
                })
                .collect(),
            ApiError::Conflict(taken) => vec![ProblemField {
                field: taken.field(),
                reason: "is already taken".into(),
            }],
            _ => Vec::new(),
        };
        let body = Problem {
            kind,
            title,
            status: status.as_u16(),
            detail: self.detail(),
            errors,
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            ApiError::Overloaded
            | ApiError::NotReady(_)
            | ApiError::Unavailable(_)
            | ApiError::KeyInProgress { waited: false }
            | ApiError::KeysInFlight => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            ApiError::KeyInProgress { waited: true } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(0));
            }
            ApiError::StorageFull(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(FULL_RETRY_AFTER_SECS),
                );
            }
            ApiError::TooManyAttempts { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            // RFC 6750: the challenge, with error="invalid_token" when one was sent.
            ApiError::Unauthorized(why) => {
                let challenge = match why {
                    None => r#"Bearer realm="authd""#.to_string(),
                    Some(why) => format!(
                        r#"Bearer realm="authd", error="invalid_token", error_description="{why}""#
                    ),
                };
                if let Ok(value) = HeaderValue::try_from(challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            // RFC 9470: a valid token whose authentication is too old for this.
            ApiError::ReauthenticationRequired { max_age_secs, aal2 } => {
                // acr_values: the level the new authentication must reach.
                let acr = if *aal2 { r#", acr_values="aal2""# } else { "" };
                let challenge = format!(
                    r#"Bearer realm="authd", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age={max_age_secs}{acr}"#
                );
                if let Ok(value) = HeaderValue::try_from(challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            _ => {}
        }
        response
    }
}
