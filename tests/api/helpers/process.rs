//! Processes the tests start beside the application: free ports, stopping a
//! child, cargo's target directory, and `authd serve` run as its own process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on right now (bound to port 0, then released), for
/// servers that cannot be handed an open socket.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Signals `child` (e.g. "TERM"), waits up to 10 s for it to exit, then kills it.
pub fn stop_child(child: &mut std::process::Child, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Cargo's target directory (CARGO_TARGET_DIR, or target/ in the workspace).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    )
}

/// Waits until `child` listens on `port` (panics if it exits, or after 30 s).
pub fn wait_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited: {status}");
        }
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An `authd serve` process; its stderr (the logs) goes to `<dir>/<name>.log`.
pub struct Replica {
    child: Child,
    pub port: u16,
}

impl Replica {
    pub fn start(name: &str, database_url: &str, brokers: Option<&str>, dir: &Path) -> Replica {
        Self::start_with(name, database_url, brokers, dir, &[])
    }

    pub fn start_with(
        name: &str,
        database_url: &str,
        brokers: Option<&str>,
        dir: &Path,
        env: &[(&str, &str)],
    ) -> Replica {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authd"));
        cmd.arg("serve")
            .env("DATABASE_URL", database_url)
            .env("AUTHD_LISTEN", format!("127.0.0.1:{port}"))
            .env("AUTHD_INSTANCE_ID", name)
            .env("AUTHD_ARGON2_MEMORY_KIB", "1024")
            .env("AUTHD_ARGON2_ITERATIONS", "1")
            .env("AUTHD_LOG_FORMAT", "json")
            .env("AUTHD_RELAY_POLL_MS", "500")
            // One issuer for every replica behind the gateway.
            .env("AUTHD_PUBLIC_URL", "http://gateway.test")
            .env_remove("AUTHD_KAFKA_BROKERS")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap());
        if let Some(brokers) = brokers {
            cmd.env("AUTHD_KAFKA_BROKERS", brokers);
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().unwrap();
        wait_port(port, &mut child, name);
        Replica { child, port }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}
