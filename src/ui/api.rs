//! The pages call the API in process: the same router, handlers, throttles and
//! enumeration safety as a client of /auth/... gets, never a copy. A call carries
//! the browser's address (the connection and `X-Forwarded-For`, judged by the
//! trusted proxies as for any request) and its User-Agent.

use std::net::SocketAddr;

use axum::body::{to_bytes, Body};
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

use crate::http::admin::Admin;

/// The largest answer the pages read (an import report is the largest).
const ANSWER_LIMIT: usize = 4 * 1024 * 1024;

/// Who a call acts as.
pub enum Acting<'a> {
    Nobody,
    /// A user's access token.
    User(&'a str),
    /// An administrator the console signed in.
    Admin(&'a str),
}

/// What a call sends.
pub enum Payload {
    None,
    Json(Value),
    /// Bytes with their content type (an admin's import file).
    Raw(&'static str, Vec<u8>),
}

/// The part of the browser's request that every call carries on.
#[derive(Clone)]
pub struct Caller {
    peer: Option<ConnectInfo<SocketAddr>>,
    headers: HeaderMap,
}

impl Caller {
    pub fn of(parts: &Parts) -> Caller {
        let mut headers = HeaderMap::new();
        for name in [
            header::USER_AGENT,
            header::HeaderName::from_static("x-forwarded-for"),
        ] {
            for value in parts.headers.get_all(&name) {
                headers.append(name.clone(), value.clone());
            }
        }
        Caller {
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned(),
            headers,
        }
    }
}

/// An API answer: its status, its headers and its JSON body (`Null` when none).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The problem's kind: the last part of its `type` URN (`wrong-code`).
    pub fn kind(&self) -> &str {
        self.body["type"]
            .as_str()
            .and_then(|t| t.rsplit(':').next())
            .unwrap_or("")
    }

    /// Each field problem: the field and why.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| {
                        Some((e["field"].as_str()?.into(), e["reason"].as_str()?.into()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn retry_after(&self) -> Option<String> {
        self.headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn text(&self, field: &str) -> String {
        self.body[field].as_str().unwrap_or_default().to_string()
    }
}

/// The API's router, with its state.
#[derive(Clone)]
pub struct Api(pub Router);

impl Api {
    pub async fn send(
        &self,
        caller: &Caller,
        acting: Acting<'_>,
        method: Method,
        path: &str,
        payload: Payload,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in &caller.headers {
            request = request.header(name, value);
        }
        match acting {
            Acting::Nobody | Acting::Admin(_) => {}
            Acting::User(token) => {
                if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
                    request = request.header(header::AUTHORIZATION, value);
                }
            }
        }
        let body = match payload {
            Payload::None => Body::empty(),
            Payload::Json(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            Payload::Raw(content_type, bytes) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                Body::from(bytes)
            }
        };
        let mut request = match request.body(body) {
            Ok(request) => request,
            Err(e) => return failed(&e.to_string()),
        };
        if let Some(peer) = caller.peer {
            request.extensions_mut().insert(peer);
        }
        if let Acting::Admin(name) = acting {
            request.extensions_mut().insert(Admin(name.to_string()));
        }
        let response = match self.0.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, ANSWER_LIMIT).await.unwrap_or_default();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}

/// An answer for a request that could not even be built (a path with characters
/// a URI refuses): the pages show it as an internal problem.
fn failed(why: &str) -> Answer {
    tracing::error!(why, "a page could not build its API call");
    Answer {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        headers: HeaderMap::new(),
        body: serde_json::json!({"type": "urn:authd:problem:internal", "detail": why}),
    }
}
