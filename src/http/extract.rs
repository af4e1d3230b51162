//! The JSON body extractor: our own rejections, as problem+json.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domain::FieldError;
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// The `{id}` of a user path, as a UUID (400 problem+json otherwise).
pub struct UserId(pub uuid::Uuid);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for UserId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<uuid::Uuid>::from_request_parts(parts, state)
            .await
            .map(|id| UserId(id.0))
            .map_err(|_| ApiError::BadPath("the user id must be a UUID".into()))
    }
}

/// A JSON object body deserialized into `T`: 415 without a JSON content type, 413
/// past the limit, 400 when it does not parse, 422 when it is not an object.
/// Request types keep their fields as `Option<Value>` and check them with
/// [`Fields`], so that one answer lists every invalid field; the same type
/// generates the request's schema in the OpenAPI document.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        // A body that never finishes holds a connection, not a thread: bounded.
        let read = tokio::time::timeout(state.body_timeout, Bytes::from_request(req, state));
        let bytes = read
            .await
            .map_err(|_| ApiError::BodyTimeout)?
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest("the body could not be read".into())
                }
            })?;
        let object = match serde_json::from_slice::<Value>(&bytes) {
            Ok(object @ Value::Object(_)) => object,
            Ok(_) => {
                return Err(ApiError::Invalid(vec![FieldError::new(
                    "body",
                    "must be a JSON object",
                )]))
            }
            Err(err) => return Err(ApiError::BadRequest(err.to_string())),
        };
        serde_json::from_value(object)
            .map(Body)
            .map_err(|err| ApiError::Invalid(vec![FieldError::new("body", err.to_string())]))
    }
}

/// Checks the fields of a request body and keeps every problem it finds.
#[derive(Debug, Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    /// The string field `name`, parsed by `parse`; `None` when it is missing, not a
    /// string, or refused (the reason is kept).
    pub fn required<T>(
        &mut self,
        name: &'static str,
        value: Option<Value>,
        parse: impl FnOnce(String) -> Result<T, String>,
    ) -> Option<T> {
        match self.optional(name, value, parse) {
            Some(Some(parsed)) => Some(parsed),
            Some(None) => self.refuse(name, "is required"),
            None => None,
        }
    }

    /// Like `required`, but absence (or `null`) is `Some(None)`.
    pub fn optional<T>(
        &mut self,
        name: &'static str,
        value: Option<Value>,
        parse: impl FnOnce(String) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match value {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => match parse(s) {
                Ok(parsed) => Some(Some(parsed)),
                Err(why) => self.refuse(name, why),
            },
            Some(_) => self.refuse(name, "must be a string"),
        }
    }

    /// Whether no field was refused so far.
    pub fn is_clean(&self) -> bool {
        self.0.is_empty()
    }

    /// Records that `name` is refused for `reason`.
    pub fn refuse<T>(&mut self, name: &'static str, reason: impl Into<String>) -> Option<T> {
        self.0.push(FieldError::new(name, reason));
        None
    }

    /// The 422 answer listing every refused field.
    pub fn into_error(self) -> ApiError {
        ApiError::Invalid(self.0)
    }
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::is_json;
    use axum::http::HeaderValue;

    #[test]
    fn json_content_types() {
        let yes = [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ];
        for v in yes {
            assert!(is_json(Some(&HeaderValue::from_static(v))), "{v}");
        }
        for v in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "",
        ] {
            assert!(!is_json(Some(&HeaderValue::from_static(v))), "{v}");
        }
        assert!(!is_json(None));
    }
}
