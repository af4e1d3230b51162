//! Operability: the metrics move when they should, the OpenAPI document is valid
//! and complete, and the logs never carry a secret. One end-to-end scenario a
//! file: metrics.rs, openapi.rs and logs.rs.

mod logs;
mod metrics;
mod openapi;
