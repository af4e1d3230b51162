//! rdkafka clients: the relay's idempotent producer, topic creation, and the tail
//! consumer behind `authd events tail`.

use std::time::Duration;

use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Map, Value};

/// Where events go.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub brokers: String,
    pub topic: String,
    pub partitions: i32,
    pub replication: i32,
    /// librdkafka properties for every client (TLS, SASL: `security.protocol`,
    /// `sasl.mechanism`, `sasl.username`, `sasl.password`, `ssl.ca.location`, ...),
    /// from AUTHD_KAFKA_PROPERTIES and AUTHD_KAFKA_PROPERTIES_FILE.
    pub properties: KafkaProperties,
}

/// librdkafka properties passed through to every client. `Debug` shows the
/// names only: values may be passwords.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProperties(pub Vec<(String, String)>);

impl std::fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "KafkaProperties({names:?})")
    }
}

impl KafkaProperties {
    /// `key=value` pairs separated by commas or newlines; `#` comments and blank
    /// entries skipped. The properties authd sets itself cannot be overridden.
    pub fn parse(text: &str) -> Result<KafkaProperties, String> {
        const OWN: [&str; 5] = [
            "bootstrap.servers",
            "enable.idempotence",
            "acks",
            "group.id",
            "enable.auto.commit",
        ];
        let mut properties = Vec::new();
        for entry in text.split([',', '\n']) {
            let entry = entry.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let (key, value) = entry.split_once('=').ok_or_else(|| {
                format!(
                    "{:?} is not key=value",
                    entry.split('=').next().unwrap_or("")
                )
            })?;
            let key = key.trim();
            if OWN.contains(&key) {
                return Err(format!("{key} is set by authd"));
            }
            properties.push((key.to_string(), value.trim().to_string()));
        }
        Ok(KafkaProperties(properties))
    }

    /// Whether librdkafka takes every property (names and values), without
    /// connecting: a typo stops the start, not the first publish.
    pub fn check(&self, brokers: &str) -> Result<(), String> {
        client_config(brokers, self)
            .create_native_config()
            .map(drop)
            .map_err(|e| format!("a Kafka property is refused: {e}"))
    }
}

/// How long the producer keeps retrying one message before the relay gives the
/// batch back (it stays in the outbox and is claimed again).
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

fn client_config(brokers: &str, properties: &KafkaProperties) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("log_level", "4");
    for (key, value) in &properties.0 {
        config.set(key, value);
    }
    config
}

/// Idempotent, acks=all: a retried send is never duplicated or reordered within a
/// partition, and an ack means every in-sync replica has the event.
pub fn producer(kafka: &KafkaConfig) -> anyhow::Result<FutureProducer> {
    client_config(&kafka.brokers, &kafka.properties)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // The relay queues a whole batch before it waits, so lingering only adds latency.
        .set("linger.ms", "1")
        .set(
            "message.timeout.ms",
            MESSAGE_TIMEOUT.as_millis().to_string(),
        )
        .create()
        .context("creating the Kafka producer")
}

/// Creates the topic when it does not exist yet.
pub async fn ensure_topic(kafka: &KafkaConfig) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(&kafka.brokers, &kafka.properties)
        .create()
        .context("creating the Kafka admin client")?;
    let topic = NewTopic::new(
        &kafka.topic,
        kafka.partitions,
        TopicReplication::Fixed(kafka.replication),
    );
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .context("creating the topic")?;
    for result in results {
        match result {
            Ok(name) => tracing::info!(
                topic = name,
                partitions = kafka.partitions,
                "created the events topic"
            ),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Where a tail consumer starts in each partition.
#[derive(Debug, Clone)]
pub enum Start {
    Beginning,
    End,
    /// One offset per partition, by partition number.
    Offsets(Vec<i64>),
}

/// The next offset of every partition of `topic` (the high watermarks).
pub async fn end_offsets(brokers: &str, topic: &str) -> anyhow::Result<Vec<i64>> {
    let consumer = tail_consumer(brokers, &KafkaProperties::default(), topic, Start::End).await?;
    let partitions = consumer.assignment()?.count();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        (0..partitions as i32)
            .map(|p| {
                Ok(consumer
                    .fetch_watermarks(&topic, p, Duration::from_secs(10))?
                    .1)
            })
            .collect()
    })
    .await?
}

/// A consumer of every partition of `topic`, from `start`. It assigns partitions
/// itself (no consumer group to join) and commits nothing.
pub async fn tail_consumer(
    brokers: &str,
    properties: &KafkaProperties,
    topic: &str,
    start: Start,
) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = client_config(brokers, properties)
        .set("group.id", format!("authd-tail-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .context("creating the Kafka consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("reading the topic's metadata")?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    anyhow::ensure!(
        partitions > 0,
        "topic {topic} has no partitions (does it exist?)"
    );
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        let offset = match &start {
            Start::Beginning => Offset::Beginning,
            Start::End => Offset::End,
            Start::Offsets(offsets) => offsets
                .get(partition)
                .map_or(Offset::Beginning, |o| Offset::Offset(*o)),
        };
        assignment.add_partition_offset(topic, partition as i32, offset)?;
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// One consumed message as a JSON line: where it was, its key and headers, and the
/// event itself (parsed when it is JSON).
pub fn message_json<M: Message>(message: &M) -> Value {
    let mut headers = Map::new();
    if let Some(hs) = message.headers() {
        for h in hs.iter() {
            let value = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
            headers.insert(h.key.to_string(), json!(value));
        }
    }
    let payload = message.payload().unwrap_or_default();
    let event = serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
    json!({
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "key": message.key().map(|k| String::from_utf8_lossy(k).into_owned()),
        "headers": headers,
        "event": event,
    })
}

/// Reads messages until `idle` passes without one (or `max` were read).
pub async fn consume_until_idle(
    consumer: &StreamConsumer,
    idle: Duration,
    max: Option<usize>,
    mut each: impl FnMut(Value),
) -> anyhow::Result<usize> {
    let mut seen = 0;
    while max.is_none_or(|m| seen < m) {
        match tokio::time::timeout(idle, consumer.recv()).await {
            Err(_) => break,
            Ok(Err(err)) => return Err(err).context("consuming"),
            Ok(Ok(message)) => {
                each(message_json(&message));
                seen += 1;
            }
        }
    }
    Ok(seen)
}
