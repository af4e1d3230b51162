//! User events: CloudEvents 1.0 envelopes written to the outbox.

mod envelope;

pub use envelope::{user_event, UserEventKind};
