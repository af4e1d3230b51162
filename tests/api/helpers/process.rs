//! Processes the tests start beside the application: their environment, free
//! ports and knowing that a port is a child's own, stopping a child, cargo's target
//! directory, and `authd serve` run as its own process.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A command whose child sees none of the runner's authd settings: every
/// `AUTHD_*` variable and DATABASE_URL are removed, so what a test sets is all
/// the child gets (a developer's AUTHD_KAFKA_BROKERS or AUTHD_SMTP_URL in the
/// shell would otherwise reach every authd a test starts).
pub fn child_command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_remove("DATABASE_URL");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AUTHD_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A port nothing listens on right now (bound to port 0, then released), for
/// servers that cannot be handed an open socket. Another process may take it
/// before the server binds it: callers check that the listener they reach is
/// their child's (`wait_listening`) and retry on a new port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The inodes of the sockets listening on `port` (any local address), from the
/// kernel's tables.
fn listening_inodes(port: u16) -> Vec<u64> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // 0A: LISTEN. The local address is `ADDR:PORT`, the port in hex.
            if fields.len() < 10 || fields[3] != "0A" {
                continue;
            }
            let local = fields[1].rsplit(':').next();
            if local.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port) {
                if let Ok(inode) = fields[9].parse() {
                    inodes.push(inode);
                }
            }
        }
    }
    inodes
}

/// Connections waiting in the accept queue of the listener on `port`: made by
/// the kernel, not yet taken by the server (for a listening socket the kernel
/// shows that queue as its receive queue).
pub fn accept_queue(port: u16) -> u32 {
    let mut waiting = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || fields[3] != "0A" {
                continue;
            }
            let local = fields[1].rsplit(':').next();
            if local.and_then(|p| u16::from_str_radix(p, 16).ok()) != Some(port) {
                continue;
            }
            let rx = fields[4].split(':').nth(1).unwrap_or("0");
            waiting += u32::from_str_radix(rx, 16).unwrap_or(0);
        }
    }
    waiting
}

/// Whether process `pid` holds a socket listening on `port`: a listener of
/// another process on that port (another test's server) does not count.
pub fn listens(pid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let link = link.to_str()?;
            link.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .any(|inode: u64| inodes.contains(&inode))
}

/// Waits until `child` itself listens on `port`: Err if it exits first (most
/// likely the port was taken meanwhile) or after 30 s.
pub fn wait_listening(port: u16, child: &mut Child, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !listens(child.id(), port) {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!(
                "{what} exited before it listened on {port}: {status}"
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("{what} did not listen on {port} within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Waits until `child` listens on `port` (panics if it exits, or after 30 s).
pub fn wait_port(port: u16, child: &mut Child, what: &str) {
    if let Err(why) = wait_listening(port, child, what) {
        panic!("{why}");
    }
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

/// An `authd serve` process; its stderr (the logs) goes to `<dir>/<name>.log`.
pub struct Replica {
    child: Child,
    pub port: u16,
}

impl Replica {
    pub fn start(name: &str, database_url: &str, brokers: Option<&str>, dir: &Path) -> Replica {
        Self::start_with(name, database_url, brokers, dir, &[])
    }

    /// Starts on a free port, and on another one if that one was taken before
    /// authd could bind it.
    pub fn start_with(
        name: &str,
        database_url: &str,
        brokers: Option<&str>,
        dir: &Path,
        env: &[(&str, &str)],
    ) -> Replica {
        let log = dir.join(format!("{name}.log"));
        let mut why = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = child_command(env!("CARGO_BIN_EXE_authd"));
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
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap());
            if let Some(brokers) = brokers {
                cmd.env("AUTHD_KAFKA_BROKERS", brokers);
            }
            cmd.envs(env.iter().copied());
            let mut child = cmd.spawn().unwrap();
            match wait_listening(port, &mut child, name) {
                Ok(()) => return Replica { child, port },
                Err(reason) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    why = reason;
                }
            }
        }
        panic!(
            "{why}:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    /// Sends `signal` (STOP, CONT, ...) to the replica, and checks the kernel then
    /// says it is stopped (T) exactly when it was told to stop.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.clone()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {pid}");
        let state = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            stat.rsplit(") ").next().unwrap().chars().next().unwrap()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while (state() == 'T') != (signal == "STOP") {
            assert!(
                std::time::Instant::now() < deadline,
                "after SIG{signal} the state is {}",
                state()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}
