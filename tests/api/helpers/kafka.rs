//! The relay switched on toward a test's broker (broker.rs), and the topic it
//! publishes to.

use std::time::Duration;

use authd::config::Config;
use authd::events::kafka::KafkaConfig;
use authd::events::relay::RelayConfig;

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
