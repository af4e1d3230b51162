//! What more than one test file uses, one idea a file, re-exported here: tests
//! import from `crate::helpers` whichever file holds the item.

mod app;
mod http;
mod kafka;
mod process;
mod pytools;
mod repo;
mod store;
mod users;
mod wait;

pub use app::{test_config, Backend, TestApp, TEST_HASH};
pub use http::{claims_of, header_of, problem, Tokens};
pub use kafka::{read_topic, relay_to, TOPIC};
pub use process::{
    accept_queue, child_command, free_port, listens, stop_child, target_dir, wait_listening,
    wait_port, Replica,
};
pub use pytools::{assert_valid_openapi, pytool};
pub use repo::{help, port_of, read};
pub use store::{revocations, Db};
pub use users::{sign_up_body, unique, PASSWORD};
pub use wait::eventually;
