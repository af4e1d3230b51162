//! The JSON body extractor: our own rejections, as problem+json.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde_json::{Map, Value};

use crate::domain::FieldError;
use crate::http::error::ApiError;

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

/// A JSON object body: 415 without a JSON content type, 413 past the limit,
/// 400 when it does not parse, 422 when it is not an object.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the body could not be read".into())
            }
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(ApiError::Invalid(vec![FieldError::new(
                "body",
                "must be a JSON object",
            )])),
            Err(err) => Err(ApiError::BadRequest(err.to_string())),
        }
    }
}

impl JsonObject {
    /// The string field `name`, or the reason it is missing or of the wrong type.
    pub fn string(&mut self, name: &'static str) -> Result<String, FieldError> {
        match self.0.remove(name) {
            Some(Value::String(s)) => Ok(s),
            None | Some(Value::Null) => Err(FieldError::new(name, "is required")),
            Some(_) => Err(FieldError::new(name, "must be a string")),
        }
    }

    /// The string field `name` when present (`null` counts as absent).
    pub fn optional_string(&mut self, name: &'static str) -> Result<Option<String>, FieldError> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(FieldError::new(name, "must be a string")),
        }
    }

    /// The names of the fields nobody took.
    pub fn remaining(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
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
