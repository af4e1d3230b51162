//! The relay switched on toward a test's broker (broker.rs), the topic it
//! publishes to, and reading back everything the topic holds.

use std::time::{Duration, Instant};

use authd::config::Config;
use authd::events::kafka::{self, KafkaConfig, Start};
use authd::events::relay::RelayConfig;
use serde_json::Value;

use crate::broker::Broker;

pub const TOPIC: &str = "authd.user-events";

/// A config tweak: the relay on, publishing to `broker`.
pub fn relay_to(broker: &Broker, batch: i64) -> impl FnOnce(&mut Config) {
    let brokers = broker.brokers();
    move |c: &mut Config| {
        c.relay = Some(RelayConfig {
            kafka: KafkaConfig {
                brokers,
                topic: TOPIC.into(),
                partitions: 3,
                replication: 1,
                properties: Default::default(),
            },
            batch,
            poll: Duration::from_millis(500),
        })
    }
}

/// Every message of TOPIC on `brokers`, repeats included, as `message_json` shows
/// them: read from the beginning up to each partition's end as it is now (so
/// call it once what must be there was acknowledged, e.g. the outbox is empty).
/// Panics after `secs` with what it could read.
pub async fn read_topic(brokers: &str, secs: u64) -> Vec<Value> {
    let ends = kafka::end_offsets(brokers, TOPIC).await.unwrap();
    let consumer = kafka::tail_consumer(brokers, &Default::default(), TOPIC, Start::Beginning)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut reached = vec![0; ends.len()];
    let mut messages = Vec::new();
    while reached.iter().zip(&ends).any(|(at, end)| at < end) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(message) = tokio::time::timeout(left, consumer.recv()).await else {
            panic!(
                "{} messages read in {secs} s; reached offsets {reached:?} of {ends:?}",
                messages.len()
            );
        };
        let message = kafka::message_json(&message.unwrap());
        let partition = message["partition"].as_u64().unwrap() as usize;
        reached[partition] = message["offset"].as_i64().unwrap() + 1;
        messages.push(message);
    }
    messages
}
