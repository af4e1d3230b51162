//! Prometheus metrics: recorded through the `metrics` facade where things happen,
//! rendered by `GET /metrics`. Gauges that describe state (queue depth, outbox lag,
//! pool) are read at scrape time, so they are never stale.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::store::Store;

pub const HTTP_REQUESTS: &str = "authd_http_requests_total";
pub const HTTP_DURATION: &str = "authd_http_request_duration_seconds";
pub const HASH_QUEUE_DEPTH: &str = "authd_hash_queue_depth";
pub const HASH_WAIT: &str = "authd_hash_wait_seconds";
pub const HASH_DURATION: &str = "authd_hash_duration_seconds";
pub const HASH_REFUSED: &str = "authd_hash_refused_total";
pub const OUTBOX_WAITING: &str = "authd_outbox_waiting";
pub const OUTBOX_OLDEST_AGE: &str = "authd_outbox_oldest_age_seconds";
pub const DB_POOL_CONNECTIONS: &str = "authd_db_pool_connections";
pub const DB_POOL_ACQUIRE: &str = "authd_db_pool_acquire_seconds";
pub const BUILD_INFO: &str = "authd_build_info";
/// Always 1; labels `engine` (fast, reference) and `backend` (avx512, avx2, sse2,
/// neon, scalar, portable): what computes this replica's hashes.
pub const HASH_ENGINE: &str = "authd_hash_engine_info";
/// Seconds from an event's write (just before its commit) to the broker's ack.
pub const DELIVERY_SECONDS: &str = "authd_outbox_delivery_seconds";
/// Events the broker acknowledged and the relay deleted from the outbox.
pub const PUBLISHED_TOTAL: &str = "authd_outbox_published_total";
/// Batches given back to the outbox because producing failed.
pub const PUBLISH_ERRORS_TOTAL: &str = "authd_outbox_publish_errors_total";
/// Seconds of one relay pass that delivered events: claim, produce, acks, delete.
pub const BATCH_SECONDS: &str = "authd_relay_batch_seconds";
/// Mails queued and not yet accepted by the mail server (read at scrape time).
pub const MAIL_WAITING: &str = "authd_mail_waiting";
/// Mails the mail server accepted, by `kind`; the kinds anyone may ask for
/// (`reset_request`, `verify_request`) count every request, sent or not (no one
/// to write to), so the counter does not tell which addresses have an account.
pub const MAIL_SENT_TOTAL: &str = "authd_mail_sent_total";
/// Attempts that failed: `permanent="false"` waits and is tried again,
/// `permanent="true"` (refused for good) is dropped.
pub const MAIL_FAILED_TOTAL: &str = "authd_mail_failed_total";
/// Heartbeats of keyed requests running longer than the renewal period.
pub const IDEMPOTENCY_RENEWALS: &str = "authd_idempotency_lease_renewals_total";
/// Repeats of a keyed request that found its key held and waited, by how the
/// wait ended: `replayed` (the holder answered), `taken_over` (the holder's lease
/// ran out: its replica died or hung), `in_progress` (409: the holder still
/// runs), `released` (409: the holder failed and let the key go), `no_room` (409
/// at once: too many repeats wait on this replica), `other`.
pub const IDEMPOTENCY_WAITS: &str = "authd_idempotency_waits_total";

/// Every metric authd exports (the dashboard and the alerts may use only these).
pub const ALL: &[&str] = &[
    HTTP_REQUESTS,
    HTTP_DURATION,
    HASH_QUEUE_DEPTH,
    HASH_WAIT,
    HASH_DURATION,
    HASH_REFUSED,
    OUTBOX_WAITING,
    OUTBOX_OLDEST_AGE,
    DB_POOL_CONNECTIONS,
    DB_POOL_ACQUIRE,
    BUILD_INFO,
    HASH_ENGINE,
    DELIVERY_SECONDS,
    PUBLISHED_TOTAL,
    PUBLISH_ERRORS_TOTAL,
    BATCH_SECONDS,
    MAIL_WAITING,
    MAIL_SENT_TOTAL,
    MAIL_FAILED_TOTAL,
    IDEMPOTENCY_RENEWALS,
    IDEMPOTENCY_WAITS,
];

/// Seconds, from 0.5 ms to 10 s: hashes sit around 10-20 ms, requests up to ~2 s.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 1.5,
    2.5, 5.0, 10.0,
];

/// The process-wide recorder (the `metrics` facade has one per process).
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .expect("buckets are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe();
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by route template and method"
    );
    describe_gauge!(
        HASH_QUEUE_DEPTH,
        "argon2 jobs accepted and not finished (waiting or running)"
    );
    describe_histogram!(
        HASH_WAIT,
        Unit::Seconds,
        "time an argon2 job waited for a hashing thread"
    );
    describe_histogram!(
        HASH_DURATION,
        Unit::Seconds,
        "time one argon2 hash or verification took"
    );
    describe_counter!(
        HASH_REFUSED,
        "argon2 jobs refused (503): queue full, the client over its share of a busy pool, or waited past the budget"
    );
    describe_gauge!(
        OUTBOX_WAITING,
        "events in the outbox, not yet acknowledged by Kafka"
    );
    describe_gauge!(
        OUTBOX_OLDEST_AGE,
        Unit::Seconds,
        "age of the oldest waiting event: the outbox lag"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "database connections of this replica by state (in_use, idle, max)"
    );
    describe_histogram!(
        DB_POOL_ACQUIRE,
        Unit::Seconds,
        "time to acquire a pooled connection, probed every second"
    );
    describe_gauge!(
        BUILD_INFO,
        "always 1; labels: version and git sha of the build"
    );
    describe_gauge!(
        HASH_ENGINE,
        "always 1; labels: the argon2 engine and the SIMD backend it runs on"
    );
    describe_histogram!(
        DELIVERY_SECONDS,
        Unit::Seconds,
        "commit to broker acknowledgement of each event"
    );
    describe_counter!(PUBLISHED_TOTAL, "events acknowledged by Kafka");
    describe_counter!(
        PUBLISH_ERRORS_TOTAL,
        "relay batches that failed (they are retried)"
    );
    describe_histogram!(
        BATCH_SECONDS,
        Unit::Seconds,
        "one relay pass: claim, produce, await acks, delete"
    );
    describe_gauge!(
        MAIL_WAITING,
        "mails queued and not yet accepted by the mail server"
    );
    describe_counter!(
        MAIL_SENT_TOTAL,
        "mails the mail server accepted, by kind (reset_request and verify_request: every request, sent or not)"
    );
    describe_counter!(
        MAIL_FAILED_TOTAL,
        "failed mail attempts: permanent=false are retried, permanent=true dropped"
    );
    describe_counter!(
        IDEMPOTENCY_RENEWALS,
        "lease renewals of running keyed requests (one per 300 ms a keyed request runs)"
    );
    describe_counter!(
        IDEMPOTENCY_WAITS,
        "repeats that waited for a held key, by outcome: replayed, taken_over (its holder died or hung), in_progress, released, no_room (409), other"
    );
}

/// Says which engine hashes here (set once at start).
pub fn hash_engine(engine: &'static str, backend: &str) {
    metrics::gauge!(HASH_ENGINE, "engine" => engine, "backend" => backend.to_string()).set(1.0);
}

/// Probes the pool once a second: how long a request would wait for a connection.
pub async fn probe_pool(store: Store, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                if let Some(waited) = store.probe_acquire().await {
                    metrics::histogram!(DB_POOL_ACQUIRE).record(waited.as_secs_f64());
                }
            }
        }
    }
}
