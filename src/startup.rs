//! Builds the application from a validated `Config` and runs it until told to stop.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::{middleware, Router};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::error::ApiError;
use crate::password::Hasher;
use crate::store::Store;
use crate::{request_id, routes};

/// What every handler may use. Cheap to clone; nothing in it decides a request
/// that another replica could not decide the same way.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hasher: Hasher,
    /// CloudEvents `source` of the events this service writes.
    pub event_source: String,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::users::router())
        .merge(routes::health::router())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn(request_id::trace))
        .with_state(state)
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects to the store, applies migrations, starts the hashing pool and binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config.store, config.pool_size).await?;
        store.migrate().await?;
        let hasher = Hasher::start(config.hash, config.hash_workers, config.hash_queue);
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        tracing::info!(
            addr = %listener.local_addr()?,
            store = store.kind(),
            hash_workers = config.hash_workers,
            hash_queue = config.hash_queue,
            argon2 = ?config.hash,
            "authd ready"
        );
        let state = AppState {
            store,
            hasher,
            event_source: "authd".into(),
        };
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")?;
        store.close().await;
        tracing::info!("authd stopped");
        Ok(())
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
