//! The outbox relay: runs in every replica, moves committed outbox rows to Kafka and
//! deletes them only once the broker has acknowledged them (at-least-once).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer, PurgeConfig};
use tokio::sync::{watch, Notify};

use super::kafka::{self, KafkaConfig};
use crate::metrics::{BATCH_SECONDS, DELIVERY_SECONDS, PUBLISHED_TOTAL, PUBLISH_ERRORS_TOTAL};
use crate::store::{PendingEvent, Store};

/// How the relay paces itself.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub kafka: KafkaConfig,
    /// Rows claimed per transaction.
    pub batch: i64,
    /// Safety-net poll when no wake-up arrives.
    pub poll: Duration,
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Pause before looking again at lanes that another relay held.
const CONTENDED_PAUSE: Duration = Duration::from_millis(20);
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Under a stream of commits (the last pass delivered within `STREAM`), a wake-up
/// waits this long before claiming, so one pass takes the commits of 100 ms
/// instead of one each. At the seed run's pace (about 50 sign-ups/s per replica)
/// a pass per event was most of what a sign-up cost Postgres (scripts/bench-pg-cost
/// 3000 real: 1.3 ms per sign-up, 0.95 with 50 ms); 100 ms took the passes per
/// sign-up from 0.36 to 0.22 (BENCHMARKS.md). An event after a quiet spell goes
/// at once; under a stream, events wait up to 100 ms more.
const GATHER: Duration = Duration::from_millis(100);
const STREAM: Duration = Duration::from_millis(250);

pub struct Relay {
    store: Store,
    config: RelayConfig,
    wake: Arc<Notify>,
    producer: Option<FutureProducer>,
}

/// What one pass over the outbox found.
enum Pass {
    /// Delivered this many; there may be more (in lanes other relays held, when
    /// `contended`).
    Delivered {
        events: usize,
        contended: bool,
    },
    /// Other relays held the lanes with waiting rows.
    Contended,
    Idle,
}

impl Relay {
    pub fn new(store: Store, config: RelayConfig, wake: Arc<Notify>) -> Self {
        Self {
            store,
            config,
            wake,
            producer: None,
        }
    }

    /// Relays until `stop` turns true; then finishes the batch in hand and flushes.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let kafka = &self.config.kafka;
        tracing::info!(
            brokers = kafka.brokers,
            topic = kafka.topic,
            "outbox relay started"
        );
        let mut backoff = BACKOFF_MIN;
        let mut topic_ready = false;
        let mut last_delivery: Option<Instant> = None;
        while !stopped(&stop) {
            if !topic_ready {
                match self.warm_up().await {
                    Ok(()) => topic_ready = true,
                    Err(err) => {
                        tracing::warn!(error = format!("{err:#}"), retry_in = ?backoff, "events topic not ready");
                        pause(&mut stop, backoff).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                }
            }
            let wait = match self.pass().await {
                Ok(Pass::Delivered { events, contended }) => {
                    tracing::debug!(events, "relayed");
                    backoff = BACKOFF_MIN;
                    // A full batch: more are waiting. Otherwise the commits made
                    // meanwhile have left a wake-up, and nothing else is waiting
                    // but rows in lanes another relay held: a look again soon.
                    if events as i64 >= self.config.batch {
                        continue;
                    }
                    last_delivery = Some(Instant::now());
                    if contended {
                        CONTENDED_PAUSE
                    } else {
                        self.config.poll
                    }
                }
                Ok(Pass::Contended) => CONTENDED_PAUSE,
                Ok(Pass::Idle) => {
                    backoff = BACKOFF_MIN;
                    self.config.poll
                }
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), retry_in = ?backoff, "relay pass failed; events stay in the outbox");
                    let wait = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    wait
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {
                    if last_delivery.is_some_and(|at| at.elapsed() < STREAM) {
                        pause(&mut stop, GATHER).await;
                    }
                }
                _ = pause(&mut stop, wait) => {}
            }
        }
        if let Some(producer) = self.producer.take() {
            if let Err(err) = producer.flush(FLUSH_TIMEOUT) {
                tracing::warn!(error = %err, "producer flush at shutdown");
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// Claims a batch, produces it, waits for every ack, then deletes it.
    async fn pass(&mut self) -> anyhow::Result<Pass> {
        let started = Instant::now();
        let claim = self.store.claim_events(self.config.batch).await?;
        if claim.events.is_empty() {
            return Ok(if claim.contended {
                Pass::Contended
            } else {
                Pass::Idle
            });
        }
        let producer = self.producer()?.clone();
        let topic = &self.config.kafka.topic;
        // Queue the whole batch first (librdkafka batches it), then await acks in order.
        let mut acks = Vec::with_capacity(claim.events.len());
        for event in &claim.events {
            let record = FutureRecord::to(topic)
                .key(&event.aggregate_id)
                .payload(&event.payload)
                .headers(headers(event));
            match producer.send_result(record) {
                Ok(ack) => acks.push(ack),
                Err((err, _)) => return Err(self.failed(err)),
            }
        }
        for ack in acks {
            match ack.await {
                Ok(Ok(_)) => {}
                Ok(Err((err, _))) => return Err(self.failed(err)),
                Err(_) => anyhow::bail!("the producer dropped a delivery"),
            }
        }
        // A measurement against the commit time the database recorded: wall clock.
        let acked = SystemClock.now();
        for event in &claim.events {
            let latency = (acked - event.created_at).to_std().unwrap_or_default();
            metrics::histogram!(DELIVERY_SECONDS).record(latency.as_secs_f64());
        }
        let n = claim.events.len();
        let contended = claim.contended;
        claim.delivered().await?;
        metrics::counter!(PUBLISHED_TOTAL).increment(n as u64);
        metrics::histogram!(BATCH_SECONDS).record(started.elapsed().as_secs_f64());
        Ok(Pass::Delivered {
            events: n,
            contended,
        })
    }

    /// Creates the topic if needed and readies a producer before the first event:
    /// connecting, getting an idempotent producer id and the topic's metadata
    /// would otherwise cost the first events about a second.
    async fn warm_up(&mut self) -> anyhow::Result<()> {
        kafka::ensure_topic(&self.config.kafka).await?;
        let producer = self.producer()?.clone();
        let topic = self.config.kafka.topic.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(10))
                .map(drop)
        })
        .await??;
        Ok(())
    }

    fn producer(&mut self) -> anyhow::Result<&FutureProducer> {
        if self.producer.is_none() {
            self.producer = Some(kafka::producer(&self.config.kafka)?);
        }
        Ok(self.producer.as_ref().expect("just set"))
    }

    /// A failed batch retires its producer. An idempotent producer whose messages
    /// timed out must bump its epoch to go on; brokers that cannot (Tansu, older
    /// Kafka) leave it failing every send. A new producer, with a new producer id,
    /// re-sends the batch from the outbox: at worst an event repeats with its id.
    fn failed(&mut self, err: KafkaError) -> anyhow::Error {
        metrics::counter!(PUBLISH_ERRORS_TOTAL).increment(1);
        if let Some(producer) = self.producer.take() {
            let fatal = producer.client().fatal_error();
            tracing::warn!(error = %err, ?fatal, "producer retired after a failed batch");
            producer.purge(PurgeConfig::default().queue().inflight());
        }
        anyhow::Error::new(err).context("producing to Kafka")
    }
}

/// CloudEvents Kafka binding headers, so consumers can filter without parsing.
fn headers(event: &PendingEvent) -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: "ce_type",
            value: Some(&event.event_type),
        })
        .insert(Header {
            key: "ce_id",
            value: Some(&event.id),
        })
        .insert(Header {
            key: "content-type",
            value: Some("application/cloudevents+json; charset=UTF-8"),
        })
}

/// Stop when asked, or when whoever could ask is gone.
fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Sleeps for `wait`, or less if `stop` changes.
async fn pause(stop: &mut watch::Receiver<bool>, wait: Duration) {
    let _ = tokio::time::timeout(wait, stop.changed()).await;
}
