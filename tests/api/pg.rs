//! A real Postgres 15 for one test: its own data directory (a copy of a template made
//! once by initdb), a free port, stopped and deleted on drop.
//!
//! Postgres refuses to run as root, so as root the server runs as the `postgres` user.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::helpers::{free_port, stop_child};

const INSTALL_HINT: &str = "Postgres 15 server binaries (initdb, postgres) must be on PATH: \
     run scripts/test, or apt-get install postgresql-15 and add /usr/lib/postgresql/15/bin to PATH";

pub struct PgServer {
    child: Child,
    pub url: String,
    port: u16,
    _dir: tempfile::TempDir,
}

/// (uid, gid) to run Postgres as: the `postgres` user when we are root.
fn run_as() -> Option<(u32, u32)> {
    let me = std::fs::metadata("/proc/self")
        .expect("read /proc/self")
        .uid();
    if me != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        assert!(
            out.status.success(),
            "running as root needs a `postgres` user for the test database \
             (scripts/test creates it: useradd --system postgres)"
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    Some((id("-u"), id("-g")))
}

fn command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = run_as() {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn chown(path: &Path) {
    if let Some((uid, gid)) = run_as() {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(path)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {} failed", path.display());
    }
}

/// initdb once per test run into the cargo target's temp dir; later servers copy it.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let template = root.join("pg-template");
        if template.join("PG_VERSION").exists() {
            return template;
        }
        let staging = tempfile::Builder::new()
            .prefix("pg-initdb-")
            .tempdir_in(&root)
            .unwrap()
            .keep();
        chown(&staging);
        let data = staging.join("data");
        let out = command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run initdb ({e}). {INSTALL_HINT}"));
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Another test thread may have won the race; either copy is fine.
        let _ = std::fs::rename(&data, &template);
        let _ = std::fs::remove_dir_all(&staging);
        template
    })
}

impl PgServer {
    pub async fn start() -> PgServer {
        let template = template();
        let dir = tempfile::Builder::new()
            .prefix("authd-pg-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let status = Command::new("cp")
            .arg("-a")
            .arg(template)
            .arg(&data)
            .status()
            .unwrap();
        assert!(status.success(), "copying the Postgres template failed");
        chown(dir.path());
        // A port taken between probe and bind is the one race left; retry on it.
        for _ in 0..5 {
            let port = free_port();
            let mut child = spawn(dir.path(), port);
            let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
            if wait_ready(&url, &mut child).await {
                return PgServer {
                    child,
                    url,
                    port,
                    _dir: dir,
                };
            }
        }
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        panic!("postgres did not start:\n{log}");
    }

    /// Stops the server at once (SIGQUIT: immediate shutdown).
    pub fn stop(&mut self) {
        stop_child(&mut self.child, "QUIT");
    }

    /// Starts the stopped server again on the same data and port.
    pub async fn restart(&mut self) {
        self.child = spawn(self._dir.path(), self.port);
        assert!(
            wait_ready(&self.url, &mut self.child).await,
            "postgres did not restart"
        );
    }
}

/// Postgres on DIR/data, port `port`, its log appended to DIR/log.
fn spawn(dir: &std::path::Path, port: u16) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log"))
        .unwrap();
    command("postgres")
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start postgres ({e}). {INSTALL_HINT}"))
}

async fn wait_ready(url: &str, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false; // exited: most likely the port was taken
        }
        if let Ok(conn) = sqlx::PgConnection::connect(url).await {
            let _ = conn.close().await;
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}
