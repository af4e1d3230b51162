//! User events: CloudEvents 1.0 envelopes written to the outbox, and the relay that
//! moves them to Kafka.

pub mod envelope;
pub mod kafka;
pub mod relay;

pub use envelope::{user_event, OutboxEvent, UserEventKind};
