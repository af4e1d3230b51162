//! The verifier: signature and claims against the JWKS, then the revocations heard
//! from Kafka. `start` returns once it has read what the topic held when it started
//! (from `remember` ago), so it never accepts a token revoked before it came up.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::jwks::Jwks;
use crate::jws::{self, Claims, Expect, TokenError};
use crate::revocations::{now, Revocations};

/// What the verifier needs to know.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// authd's `/.well-known/jwks.json`.
    pub jwks_url: String,
    /// `AUTHD_TOKEN_ISSUER` and `AUTHD_TOKEN_AUDIENCE` of authd.
    pub issuer: String,
    pub audience: String,
    /// Kafka bootstrap servers; `None`: signatures only, no revocations (a
    /// revoked token is then accepted until it expires).
    pub brokers: Option<String>,
    /// authd's topic (`AUTHD_KAFKA_TOPIC`).
    pub topic: String,
    /// Tolerated clock difference for `iat`/`nbf`, seconds.
    pub leeway: i64,
    /// How long revocations are kept, and how far back the topic is read at start:
    /// at least authd's access-token lifetime (15 min by default).
    pub remember: Duration,
    /// The longest `start` waits to have read the topic up to where it stood.
    pub catch_up: Duration,
    /// The shortest time between two JWKS fetches for unknown kids.
    pub min_refetch: Duration,
}

impl VerifierConfig {
    pub fn new(jwks_url: &str, issuer: &str, audience: &str, brokers: Option<String>) -> Self {
        VerifierConfig {
            jwks_url: jwks_url.into(),
            issuer: issuer.into(),
            audience: audience.into(),
            brokers,
            topic: "authd.user-events".into(),
            leeway: 60,
            remember: Duration::from_secs(3600),
            catch_up: Duration::from_secs(60),
            min_refetch: Duration::from_secs(5),
        }
    }
}

#[derive(Debug)]
pub enum VerifyError {
    /// Malformed, wrong algorithm, unknown key, bad signature, expired, not yet
    /// valid, or for another issuer or audience.
    Token(TokenError),
    /// Its session ended, or its user's tokens of that age were voided.
    Revoked,
    /// The JWKS could not be fetched.
    Jwks(String),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::Token(e) => e.fmt(f),
            VerifyError::Revoked => f.write_str("the token was revoked"),
            VerifyError::Jwks(e) => write!(f, "the keys are unavailable: {e}"),
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<TokenError> for VerifyError {
    fn from(e: TokenError) -> Self {
        VerifyError::Token(e)
    }
}

#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "starting the verifier: {}", self.0)
    }
}

impl std::error::Error for StartError {}

/// Cheap to clone; verifies without calling authd (but for a JWKS fetch on an
/// unknown key id).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: VerifierConfig,
    jwks: Jwks,
    revocations: Arc<Revocations>,
    _stop: watch::Sender<bool>,
}

impl Verifier {
    /// Fetches the JWKS, then reads the topic from `remember` ago up to where it
    /// stands (at most `catch_up`), and keeps listening in the background.
    pub async fn start(config: VerifierConfig) -> Result<Verifier, StartError> {
        let jwks = Jwks::new(config.jwks_url.clone(), config.min_refetch);
        jwks.fetch().await.map_err(StartError)?;
        let revocations = Arc::new(Revocations::default());
        let (stop, stopped) = watch::channel(false);
        match &config.brokers {
            Some(brokers) => {
                let (ready_tx, mut ready) = watch::channel(false);
                let consumer = subscribe(brokers, &config).await?;
                let remember = config.remember;
                tokio::spawn(listen(
                    consumer,
                    Arc::clone(&revocations),
                    ready_tx,
                    remember,
                    stopped,
                ));
                tokio::time::timeout(config.catch_up, ready.wait_for(|r| *r))
                    .await
                    .map_err(|_| {
                        StartError(format!(
                            "the topic {} was not read up to its end within {:?}",
                            config.topic, config.catch_up
                        ))
                    })?
                    .map_err(|_| StartError("the listener stopped".into()))?;
            }
            None => tracing::warn!(
                "authd-verify without brokers: revoked tokens are accepted until they expire"
            ),
        }
        Ok(Verifier {
            inner: Arc::new(Inner {
                config,
                jwks,
                revocations,
                _stop: stop,
            }),
        })
    }

    /// The claims of a valid, unrevoked access token.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let inner = &self.inner;
        let kid = jws::key_id(token)?;
        let key = inner
            .jwks
            .key(&kid)
            .await
            .map_err(VerifyError::Jwks)?
            .ok_or(TokenError::UnknownKey)?;
        let claims = jws::verify(
            token,
            &key,
            &Expect {
                issuer: &inner.config.issuer,
                audience: &inner.config.audience,
                now: now(),
                leeway: inner.config.leeway,
            },
        )?;
        if inner.revocations.revoked(&claims) {
            return Err(VerifyError::Revoked);
        }
        Ok(claims)
    }

    /// How many times the JWKS was fetched (at start, and for unknown kids).
    pub fn jwks_fetches(&self) -> u64 {
        self.inner
            .jwks
            .fetches
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A consumer of its own (no group offsets are shared or committed) on every
/// partition, from `remember` ago; where the broker cannot tell, from the start.
async fn subscribe(
    brokers: &str,
    config: &VerifierConfig,
) -> Result<(StreamConsumer, Vec<(i32, i64)>), StartError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("authd-verify-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .set("socket.nagle.disable", "true")
        .create()
        .map_err(|e| StartError(format!("a Kafka consumer: {e}")))?;
    let topic = config.topic.clone();
    let remember = config.remember;
    let timeout = config.catch_up;
    let consumer = tokio::task::spawn_blocking(move || {
        let metadata = consumer
            .fetch_metadata(Some(&topic), timeout)
            .map_err(|e| StartError(format!("the metadata of {topic}: {e}")))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map(|t| t.partitions().iter().map(|p| p.id()).collect())
            .unwrap_or_default();
        if partitions.is_empty() {
            return Err(StartError(format!("the topic {topic} has no partitions")));
        }
        let mut ends = Vec::new();
        let mut since = TopicPartitionList::new();
        let from = (now() - remember.as_secs() as i64) * 1000;
        for &p in &partitions {
            let (_, high) = consumer
                .fetch_watermarks(&topic, p, timeout)
                .map_err(|e| StartError(format!("the end of {topic}/{p}: {e}")))?;
            ends.push((p, high));
            since
                .add_partition_offset(&topic, p, Offset::Offset(from))
                .map_err(|e| StartError(e.to_string()))?;
        }
        let mut start = consumer
            .offsets_for_times(since, timeout)
            .unwrap_or_else(|_| TopicPartitionList::new());
        for &p in &partitions {
            let known = start
                .find_partition(&topic, p)
                .is_some_and(|e| matches!(e.offset(), Offset::Offset(_)));
            if !known {
                let _ = start.add_partition_offset(&topic, p, Offset::Beginning);
            }
        }
        consumer
            .assign(&start)
            .map_err(|e| StartError(format!("assigning {topic}: {e}")))?;
        Ok((consumer, ends))
    })
    .await
    .map_err(|e| StartError(e.to_string()))??;
    Ok(consumer)
}

/// Applies every event; `ready` once each partition was read up to the end it
/// had at start. Forgets old revocations once a minute.
async fn listen(
    (consumer, ends): (StreamConsumer, Vec<(i32, i64)>),
    revocations: Arc<Revocations>,
    ready: watch::Sender<bool>,
    remember: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut behind: Vec<(i32, i64)> = ends.into_iter().filter(|(_, end)| *end > 0).collect();
    // Empty partitions, or ones whose start is already past the old end, count
    // as read once the first poll tells us so; start with what is known.
    let _ = ready.send(behind.is_empty());
    let mut prune = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = prune.tick() => revocations.forget_before(now() - remember.as_secs() as i64),
            _ = tokio::time::sleep(Duration::from_millis(200)), if !behind.is_empty() => {
                // No message for a while: a partition whose start (from `remember`
                // ago) lies past its old end has nothing left to read.
                let position = consumer.position().ok();
                behind.retain(|(p, end)| {
                    let at = position
                        .as_ref()
                        .and_then(|l| l.elements().into_iter().find(|e| e.partition() == *p))
                        .and_then(|e| match e.offset() { Offset::Offset(o) => Some(o), _ => None });
                    at.is_none_or(|at| at < *end)
                });
                if behind.is_empty() {
                    let _ = ready.send(true);
                }
            }
            received = consumer.recv() => match received {
                Ok(message) => {
                    if let Some(event) = message
                        .payload()
                        .and_then(|p| serde_json::from_slice::<serde_json::Value>(p).ok())
                    {
                        revocations.apply(&event);
                    }
                    let (p, next) = (message.partition(), message.offset() + 1);
                    let before = behind.len();
                    behind.retain(|(q, end)| !(*q == p && next >= *end));
                    if before > 0 && behind.is_empty() {
                        let _ = ready.send(true);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "authd-verify: reading revocations");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
}
