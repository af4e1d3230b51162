//! The HTTP/1.1 serving loop, with the limits a public service needs and axum's own
//! `serve` does not set: the whole request head must arrive within
//! `header_timeout` (a slowloris connection is closed; hyper answers 408 when it
//! can), a head over `HEAD_LIMIT` is refused with 431, and at most
//! `max_connections` connections are open at once (past that, new ones wait in
//! the kernel's backlog, so memory stays bounded). Request bodies have their own
//! timeout, in the extractors (`http::extract`). Side listeners (metrics, admin)
//! are served by `serve_until`; `shutdown_signal` is SIGTERM or SIGINT.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::serve::Listener;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::http::listener::DrainingListener;

/// The request line and headers together may take this many bytes (431 past it).
pub const HEAD_LIMIT: usize = 16 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the open
/// connections finish their requests (idle ones are closed) and returns.
pub async fn serve(
    mut listener: DrainingListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(HEAD_LIMIT);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        // Answers are small and must not wait for the next segment.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Serves a side listener (metrics, admin) until `stop` changes, with the limits
/// of the service port (header timeout, connection cap): they are reachable by
/// whoever reaches their address, and must not be held open by a slow client.
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.changed().await;
    };
    // Side listeners do not drain: they stop with the replica.
    let (_never, no_drain) = watch::channel(false);
    match DrainingListener::new(listener, no_drain) {
        Ok(listener) => serve(listener, router, limits, stopped).await,
        Err(err) => tracing::error!(error = %err, "a side listener failed"),
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c()
            .await
            .expect("install the SIGINT handler");
    };
    #[cfg(unix)]
    let term = async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install the SIGTERM handler")
            .recv()
            .await;
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; draining in-flight requests");
}
