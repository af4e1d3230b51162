//! Request ids and the one log line per request.

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use uuid::Uuid;

use crate::http::state::AppState;

pub const HEADER: &str = "x-request-id";
/// Which replica answered: makes load balancing behind nginx observable.
pub const INSTANCE_HEADER: &str = "x-authd-instance";

/// Keeps a sane incoming `X-Request-Id` (nginx sets one), else makes one; returns it
/// and puts it, with the route template and the replica, on every log line of the
/// request.
pub async fn trace(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .filter(|v| acceptable(v))
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::try_from(Uuid::now_v7().to_string()).expect("uuid is ASCII")
        });
    req.headers_mut().insert(HEADER, id.clone());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", |p| p.as_str())
        .to_owned();
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method = %method,
        route = %route,
        replica = state.instance.to_str().unwrap_or_default(),
    );
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        )
    });
    // Route templates and "<unmatched>" only: label values stay a bounded set.
    let labels = [("method", method.to_string()), ("route", route)];
    metrics::histogram!(crate::metrics::HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
    let [method, route] = labels;
    metrics::counter!(
        crate::metrics::HTTP_REQUESTS,
        &[method, route, ("status", status.to_string())]
    )
    .increment(1);
    response.headers_mut().insert(HEADER, id);
    response
        .headers_mut()
        .insert(INSTANCE_HEADER, state.instance);
    if state.draining.load(Ordering::Relaxed) {
        // hyper closes the connection after this response: no keep-alive
        // connection of a proxy is left to race the listener's close.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Printable ASCII, at most 128 bytes: anything else could forge or flood log lines.
fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::acceptable;
    use axum::http::HeaderValue;

    #[test]
    fn only_short_printable_ids_are_kept() {
        assert!(acceptable(&HeaderValue::from_static("abc-123")));
        assert!(!acceptable(&HeaderValue::from_static("")));
        assert!(!acceptable(&HeaderValue::from_static("has space")));
        assert!(!acceptable(
            &HeaderValue::try_from("x".repeat(129)).unwrap()
        ));
    }
}
