//! A real Postgres 15 for one test: its own data directory (a copy of a template made
//! once by initdb), a free port, a name of its own it is recognised by, stopped and
//! deleted on drop.
//!
//! Postgres refuses to run as root, so as root the server runs as the `postgres` user.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::helpers::{child_command, free_port, stop_child};

const INSTALL_HINT: &str = "Postgres 15 server binaries (initdb, postgres) must be on PATH: \
     run scripts/test, or apt-get install postgresql-15 and add /usr/lib/postgresql/15/bin to PATH";

pub struct PgServer {
    child: Child,
    pub url: String,
    port: u16,
    /// Its `cluster_name`, unique to it.
    name: String,
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
    let mut cmd = child_command(program);
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
        Self::start_trying(None).await
    }

    /// Starts on `first` if given (a port a test knows to be taken), then on free
    /// ports until one is its own.
    pub async fn start_trying(first: Option<u16>) -> PgServer {
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
        // The name this server answers to `SHOW cluster_name`: every server trusts
        // any local connection, so reaching another test's server on a port taken
        // between probe and bind would go unnoticed without it.
        let name = format!("authd-test-{}", uuid::Uuid::new_v4().simple());
        let mut why = String::new();
        let ports = first.into_iter().chain(std::iter::repeat_with(free_port));
        for port in ports.take(5) {
            let mut child = spawn(dir.path(), port, &name);
            let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
            match wait_ready(&url, &mut child, &name).await {
                Ok(()) => {
                    return PgServer {
                        child,
                        url,
                        port,
                        name,
                        _dir: dir,
                    }
                }
                // Taken by another process: this one on a new port.
                Err(reason) => {
                    stop_child(&mut child, "QUIT");
                    why = reason;
                }
            }
        }
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        panic!("postgres did not start ({why}):\n{log}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What it answers to `SHOW cluster_name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops the server at once (SIGQUIT: immediate shutdown).
    pub fn stop(&mut self) {
        stop_child(&mut self.child, "QUIT");
    }

    /// Starts the stopped server again on the same data and port.
    pub async fn restart(&mut self) {
        self.child = spawn(self._dir.path(), self.port, &self.name);
        if let Err(why) = wait_ready(&self.url, &mut self.child, &self.name).await {
            panic!("postgres did not restart on port {}: {why}", self.port);
        }
    }
}

/// Postgres on DIR/data, port `port`, named `name`, its log appended to DIR/log.
fn spawn(dir: &std::path::Path, port: u16, name: &str) -> Child {
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
        .args(["-c", &format!("cluster_name={name}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start postgres ({e}). {INSTALL_HINT}"))
}

/// Ready once the server on `url` answers as `name`; Err if `child` exited (most
/// likely the port was taken), another server answered, or after 30 s.
async fn wait_ready(url: &str, child: &mut Child, name: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited: {status}"));
        }
        if let Ok(mut conn) = sqlx::PgConnection::connect(url).await {
            let answered: Result<String, _> = sqlx::query_scalar("SHOW cluster_name")
                .fetch_one(&mut conn)
                .await;
            let _ = conn.close().await;
            match answered {
                Ok(answered) if answered == name => return Ok(()),
                Ok(answered) => {
                    return Err(format!("another server ({answered:?}) answers on {url}"))
                }
                // Still starting up.
                Err(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("not ready within 30 s".into())
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}
