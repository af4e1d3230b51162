//! --verify: every 201 must have its row in Postgres and its event in Kafka. Events
//! are matched by consuming the topic (end offsets alone are not proof).

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context;
use authd::events::kafka;
use rdkafka::message::Message;
use serde_json::{json, Value};

use crate::Args;

pub struct Verification {
    pub created: usize,
    pub rows_missing: usize,
    pub events_missing: usize,
    /// Users with no row or no event.
    pub lost: usize,
    /// Users of this run's names that no 201 reported: a sign-up done twice (a
    /// retry without an idempotency key) or one whose answer the client never saw.
    pub unconfirmed: usize,
}

impl Verification {
    pub fn line(&self) -> String {
        format!(
            "verify        created={} rows_missing={} events_missing={} lost={} unconfirmed={}",
            self.created, self.rows_missing, self.events_missing, self.lost, self.unconfirmed
        )
    }

    pub fn to_json(&self) -> Value {
        json!({ "created": self.created, "rows_missing": self.rows_missing,
                "events_missing": self.events_missing, "lost": self.lost,
                "unconfirmed": self.unconfirmed })
    }
}

/// Before the run: where each partition ends, so that the check reads only what the
/// run added. One offset earlier than reported: Tansu has been seen reporting an end
/// offset one short, and events are matched by id, so reading extra is harmless.
pub async fn start_offsets(args: &Args) -> anyhow::Result<Vec<i64>> {
    let brokers = args.brokers.as_deref().context("--brokers")?;
    match kafka::end_offsets(brokers, &args.topic).await {
        Ok(ends) => Ok(ends.into_iter().map(|o| (o - 1).max(0)).collect()),
        // no topic yet: the run's events are all there will be
        Err(_) => Ok(Vec::new()),
    }
}

pub async fn verify(
    args: &Args,
    prefix: &str,
    ids: &[String],
    from: Vec<i64>,
) -> anyhow::Result<Verification> {
    let url = args.database_url.as_deref().context("--database-url")?;
    let brokers = args.brokers.as_deref().context("--brokers")?;
    let wanted: Vec<uuid::Uuid> = ids.iter().map(|s| s.parse()).collect::<Result<_, _>>()?;
    let pool = sqlx::PgPool::connect(url)
        .await
        .context("connecting to Postgres")?;
    let found: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE id = ANY($1)")
        .bind(&wanted)
        .fetch_all(&pool)
        .await?;
    // Every user of this run's names (`{prefix}_{i}`), confirmed by a 201 or not.
    let named: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM users WHERE starts_with(username, $1)")
            .bind(format!("{prefix}_"))
            .fetch_all(&pool)
            .await?;
    pool.close().await;
    let rows: HashSet<String> = found.iter().map(|u| u.to_string()).collect();
    let confirmed: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let unconfirmed = named
        .iter()
        .filter(|id| !confirmed.contains(id.to_string().as_str()))
        .count();

    let mut waiting: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let consumer = kafka::tail_consumer(
        brokers,
        &Default::default(),
        &args.topic,
        kafka::Start::Offsets(from),
    )
    .await?;
    let idle = Duration::from_secs(args.verify_idle);
    while !waiting.is_empty() {
        let message =
            match tokio::time::timeout(idle, rdkafka::consumer::StreamConsumer::recv(&consumer))
                .await
            {
                Err(_) => break,
                Ok(message) => message.context("consuming")?,
            };
        let event: Value =
            serde_json::from_slice(message.payload().unwrap_or_default()).unwrap_or_default();
        if event["type"] == "authd.user.created" {
            if let Some(subject) = event["subject"].as_str() {
                waiting.remove(subject);
            }
        }
    }
    let rows_missing = ids.iter().filter(|id| !rows.contains(*id)).count();
    let lost = ids
        .iter()
        .filter(|id| !rows.contains(*id) || waiting.contains(id.as_str()))
        .count();
    Ok(Verification {
        created: ids.len(),
        rows_missing,
        events_missing: waiting.len(),
        lost,
        unconfirmed,
    })
}
