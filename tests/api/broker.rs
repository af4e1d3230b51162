//! A real Kafka-protocol broker (Tansu) for one test: durable SQLite storage in its
//! own directory, a free port, killed on drop. It can be SIGKILLed and restarted on
//! the same port and storage, like a broker outage.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{child_command, free_port, listens};

const INSTALL_HINT: &str = "the Tansu broker must be on PATH: run scripts/test, or \
     cargo install tansu --locked --features libsql,dynostore";

pub struct Broker {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("authd-tansu-")
            .tempdir()
            .unwrap();
        let mut broker = Broker {
            child: None,
            port: 0,
            dir,
        };
        // A port taken between probe and bind is the one race left; retry on it.
        for _ in 0..5 {
            broker.port = free_port();
            if broker.spawn() {
                return broker;
            }
        }
        panic!(
            "tansu did not start:\n{}",
            std::fs::read_to_string(broker.log_path()).unwrap_or_default()
        );
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// Starts the process on this broker's port and storage; false if it exited
    /// (the port was taken) or never listened.
    fn spawn(&mut self) -> bool {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut child = child_command("tansu")
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            // relative to the working directory: the broker's own temp dir
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu ({e}). {INSTALL_HINT}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            // Its own listener: another test's broker on a port taken between
            // probe and bind would answer a connection just as well.
            if listens(child.id(), self.port) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port and storage.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "kill it first");
        assert!(
            self.spawn(),
            "tansu did not restart:\n{}",
            std::fs::read_to_string(self.log_path()).unwrap_or_default()
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}
