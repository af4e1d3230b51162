//! Builds the application from a validated `Config` and runs it until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::HeaderValue;
use axum::{middleware, Router};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::Denylist;
use crate::events::relay::{Relay, RelayConfig};
use crate::hashing::{hash_blocking, self_check, Hasher};
use crate::http::error::ApiError;
use crate::http::idempotency;
use crate::http::idempotency::openapi::KeyParameter;
use crate::http::listener::DrainingListener;
use crate::http::openapi::{ApiDoc, DenylistStated, ProblemResponses};
use crate::http::request_id;
use crate::http::routes;
use crate::http::serve::{self, Limits};
use crate::http::state::AppState;
use crate::mail::{MailConfig, Sender};
use crate::store::Store;
use crate::tokens::{TokenConfig, Tokens};

/// Every documented route: each module's router, this document, and GET /metrics
/// when it is served on the service port. Routes enter through `routes!`, so the
/// OpenAPI document and the router cannot disagree.
fn api(metrics: bool) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::signup::router())
        .merge(routes::account::router())
        .merge(routes::login::router())
        .merge(routes::mfa::router())
        .merge(routes::totp::router())
        .merge(routes::passkeys::router())
        .merge(routes::passkey_login::router())
        .merge(routes::reauthenticate::router())
        .merge(routes::sessions::router())
        .merge(routes::recovery::router())
        .merge(routes::keys::router())
        .merge(routes::operations::router(metrics))
}

/// The OpenAPI 3.1 document of the service port, as JSON.
/// The document states what `denylist` refuses, as far as it can say.
pub fn openapi_json(metrics: bool, denylist: &Denylist) -> String {
    let mut document = api(metrics).split_for_parts().1;
    KeyParameter.modify(&mut document);
    DenylistStated(denylist).modify(&mut document);
    ProblemResponses.modify(&mut document);
    document
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

/// The service's routes; with `metrics` also GET /metrics; the pages at /ui/
/// when they are on (they call these same routes in process).
pub fn router(state: AppState, metrics: bool) -> Router {
    let (routes, _) = api(metrics).split_for_parts();
    let routes = routes.with_state(state.clone());
    let pages = (state.ui.as_ref())
        .map(|ui| crate::ui::router(state.clone(), routes.clone(), Arc::clone(ui)));
    routes
        .merge(pages.unwrap_or_default())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent,
        ))
        .layer(middleware::from_fn_with_state(state, request_id::trace))
}

/// GET /metrics alone, for the admin listener.
fn metrics_router() -> Router<AppState> {
    Router::new().route(
        "/metrics",
        axum::routing::get(routes::operations::metrics_endpoint),
    )
}

pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    admin_listener: Option<TcpListener>,
    state: AppState,
    relay: Option<RelayConfig>,
    mail: MailConfig,
    drain: Duration,
    limits: Limits,
}

impl Application {
    /// Connects to the store, applies migrations, starts the hashing pool and binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// `build` with another clock (tests move time instead of sleeping).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        crate::private_files::restrict_new_files();
        let store = open_store(&config).await?;
        // One setting for both: the tokens' iss is where clients reach authd.
        let token_config = TokenConfig {
            issuer: config.public_url.clone(),
            ..config.tokens.clone()
        };
        let tokens = Tokens::load(store.clone(), token_config, clock.now()).await?;
        let (hasher, dummy_hash) = checked_hasher(&config)?;
        let engine = config.hash_engine;
        let metrics = crate::metrics::install();
        crate::metrics::hash_engine(engine.name(), &engine.backend());
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        tracing::info!(
            addr = %listener.local_addr()?,
            store = store.kind(),
            hash_workers = config.hash_pool.workers,
            hash_engine = engine.name(),
            hash_backend = engine.backend(),
            hash_ms = hasher.calibration.hash_time.as_secs_f64() * 1e3,
            hash_queue = hasher.calibration.queue_bound,
            hash_wait_ms = config.hash_pool.max_wait.as_millis() as u64,
            argon2 = ?config.hash,
            instance = config.instance_id,
            "authd ready"
        );
        match &config.relay {
            Some(relay) => tracing::info!(brokers = relay.kafka.brokers, topic = relay.kafka.topic, "publishing user events to Kafka"),
            None => tracing::info!("publishing is off (no AUTHD_KAFKA_BROKERS, or AUTHD_RELAY=false): events wait in the outbox, see `authd events`"),
        }
        let (metrics_listener, admin_listener) = side_listeners(&config).await?;
        let state = AppState {
            store,
            hasher,
            instance: HeaderValue::try_from(config.instance_id.as_str()).context("instance id")?,
            tokens: Arc::new(tokens),
            clock,
            throttle: config.throttle,
            trusted_proxies: config.trusted_proxies.into(),
            dummy_hash: dummy_hash.into(),
            metrics,
            openapi: Arc::new(openapi_json(
                config.metrics_listen.is_none(),
                &config.denylist,
            )),
            draining: Arc::new(AtomicBool::new(false)),
            body_timeout: config.body_timeout,
            public_url: Arc::from(config.public_url.as_str()),
            denylist: Arc::clone(&config.denylist),
            idempotency: config.idempotency,
            key_waiters: Arc::new(tokio::sync::Semaphore::new(idempotency::MAX_WAITERS)),
            verification: config.mail.verification,
            admin: config
                .admin
                .as_ref()
                .map(|admin| Arc::new(admin.credentials.clone())),
            mfa: Arc::new(config.mfa.clone()),
            ui: config.ui.clone().map(Arc::new),
        };
        Ok(Self {
            listener,
            metrics_listener,
            admin_listener,
            state,
            relay: config.relay,
            mail: config.mail,
            drain: config.shutdown_drain,
            limits: Limits {
                header_timeout: config.header_timeout,
                max_connections: config.max_connections,
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where GET /metrics is served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_listener
            .as_ref()
            .map_or_else(|| self.local_addr(), |l| l.local_addr().expect("bound"))
    }

    /// Where the admin API is served, when configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener
            .as_ref()
            .map(|l| l.local_addr().expect("bound"))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then drains in-flight requests, stops the
    /// relay (it finishes its batch and flushes the producer) and closes the pool.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut background = JoinSet::new();
        if let Some(config) = self.relay {
            background.spawn({
                let store = store.clone();
                let stop = stop_rx.clone();
                async move { store.forward_commits(stop).await }
            });
            let wake = store.outbox_wakeups();
            background.spawn(Relay::new(store.clone(), config, wake).run(stop_rx.clone()));
        }
        crate::mail::announce(&self.mail);
        background.spawn(
            Sender::new(store.clone(), Arc::clone(&self.state.clock), self.mail)
                .run(stop_rx.clone()),
        );
        background.spawn(crate::metrics::probe_pool(store.clone(), stop_rx.clone()));
        background.spawn(store.clone().prune_periodically(
            Arc::clone(&self.state.clock),
            self.state.throttle.window,
            stop_rx.clone(),
        ));
        let separate = self.metrics_listener.is_some();
        if let Some(listener) = self.metrics_listener {
            let metrics = metrics_router().with_state(self.state.clone());
            background.spawn(serve::serve_until(
                listener,
                metrics,
                self.limits,
                stop_rx.clone(),
            ));
        }
        if let Some(listener) = self.admin_listener {
            let admin = crate::ui::console::admin_listener(self.state.clone());
            background.spawn(serve::serve_until(
                listener,
                admin,
                self.limits,
                stop_rx.clone(),
            ));
        }
        let draining = Arc::clone(&self.state.draining);
        let (drain_tx, drain_rx) = watch::channel(false);
        let drain = self.drain;
        let shutdown = async move {
            shutdown.await;
            draining.store(true, Ordering::Relaxed);
            let _ = drain_tx.send(true);
            if !drain.is_zero() {
                tracing::info!(
                    drain_ms = drain.as_millis() as u64,
                    "draining: new connections refused, /readyz answers 503, \
                     open connections close after their next response"
                );
                tokio::time::sleep(drain).await;
            }
        };
        let listener = DrainingListener::new(self.listener, drain_rx)?;
        let app = router(self.state, !separate);
        serve::serve(listener, app, self.limits, shutdown).await;
        let _ = stop_tx.send(true);
        background.join_all().await;
        store.close().await;
        tracing::info!("authd stopped");
        Ok(())
    }
}

/// The store of `config`, migrated; a replica with a relay publishes its own
/// commits (woken in-process), so it sends no commit notifications.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.store, config.pool_size)
        .await?
        .with_event_source(&config.event_source)
        .with_event_history(config.event_history)
        .with_retention(
            config.tokens.access_ttl + config.tokens.keys_refresh,
            config.idempotency.max_keys,
        );
    let store = if config.relay.is_some() {
        store.without_commit_notifications()
    } else {
        store
    };
    store.migrate().await?;
    Ok(store)
}

/// The hashing pool and the dummy hash an unknown login is checked against, once
/// the engine has passed its check. Trust, but verify: an engine that computes
/// anything else than the reference would store hashes no other build can check.
fn checked_hasher(config: &Config) -> anyhow::Result<(Hasher, String)> {
    let engine = config.hash_engine;
    self_check(engine, config.hash.shape()).map_err(|why| {
        tracing::error!(
            why,
            engine = engine.name(),
            "the argon2 engine failed its check; not starting"
        );
        anyhow::anyhow!("the argon2 engine failed its start-up check: {why}")
    })?;
    let hasher = Hasher::start(engine, config.hash, config.hash_pool);
    let dummy_hash = hash_blocking(engine, config.hash, &uuid::Uuid::new_v4().to_string())?;
    Ok((hasher, dummy_hash))
}

/// The metrics and admin listeners, when configured.
async fn side_listeners(
    config: &Config,
) -> anyhow::Result<(Option<TcpListener>, Option<TcpListener>)> {
    let metrics = match config.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener {addr}"))?,
        ),
        None => None,
    };
    let admin = match &config.admin {
        Some(admin) => {
            let listener = TcpListener::bind(admin.listen)
                .await
                .with_context(|| format!("binding the admin listener {}", admin.listen))?;
            tracing::info!(addr = %listener.local_addr()?, admins = ?admin.credentials, "admin API");
            Some(listener)
        }
        None => None,
    };
    Ok((metrics, admin))
}
