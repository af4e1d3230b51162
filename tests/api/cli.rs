//! The `authd` binary as a user runs it.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use authd::config::StoreConfig;
use authd::events::kafka::KafkaConfig;
use authd::events::relay::RelayConfig;
use serde_json::{json, Value};

use crate::broker::Broker;
use crate::helpers::{child_command, free_port, port_of, wait_port, Backend, TestApp};
use crate::pg::PgServer;

const BIN: &str = env!("CARGO_BIN_EXE_authd");

/// The binary with none of the caller's authd settings leaking in.
fn authd(cwd: &Path) -> Command {
    let mut cmd = child_command(BIN);
    cmd.current_dir(cwd);
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run authd")
}

fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn healthy(cwd: &Path, addr: &str) -> bool {
    run(authd(cwd).args(["healthcheck", &format!("http://{addr}")]))
        .status
        .success()
}

/// Waits until `child` itself listens on `addr` (not another test's server on a
/// port taken meanwhile) and answers its health check.
fn wait_healthy(cwd: &Path, addr: &str, child: &mut Child) {
    wait_port(port_of(addr), child, "authd");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !healthy(cwd, addr) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("authd exited early: {status}");
        }
        assert!(Instant::now() < deadline, "authd never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn help_documents_every_option_and_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(authd(dir.path()).arg("--help"));
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--listen",
        "AUTHD_LISTEN",
        "--database-url",
        "DATABASE_URL",
        "--data-dir",
        "AUTHD_DATA_DIR",
        "--db-pool-size",
        "AUTHD_DB_POOL_SIZE",
        "--argon2-memory-kib",
        "AUTHD_ARGON2_MEMORY_KIB",
        "--argon2-iterations",
        "AUTHD_ARGON2_ITERATIONS",
        "--argon2-parallelism",
        "AUTHD_ARGON2_PARALLELISM",
        "--hash-workers",
        "AUTHD_HASH_WORKERS",
        "--hash-queue",
        "AUTHD_HASH_QUEUE",
        "--hash-queue-wait-ms",
        "AUTHD_HASH_QUEUE_WAIT_MS",
        "--log-format",
        "AUTHD_LOG_FORMAT",
        "serve",
        "migrate",
        "healthcheck",
    ] {
        assert!(
            help.contains(needle),
            "--help does not mention {needle}:\n{help}"
        );
    }
}

#[test]
fn a_bad_setting_stops_start_up_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(authd(dir.path()).env("AUTHD_HASH_WORKERS", "0"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hash-workers"));
    let out = run(authd(dir.path()).env("DATABASE_URL", "mysql://db/users"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("postgres://"));
    let out = run(authd(dir.path()).env("AUTHD_ARGON2_MEMORY_KIB", "1"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("argon2"));
    // The mail server's URL may hold a password: refused without being echoed.
    let out =
        run(authd(dir.path()).env("AUTHD_SMTP_URL", "http://mailer:hunter2@smtp.example.com"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AUTHD_SMTP_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let out = run(authd(dir.path()).env("AUTHD_EMAIL_VERIFICATION", "sometimes"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--email-verification"));
    assert!(
        !dir.path().join("authd-data").exists(),
        "a refused start writes nothing"
    );
}

#[tokio::test]
async fn with_no_settings_it_serves_sign_ups_from_an_embedded_store_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut child = authd(dir.path())
        .env("AUTHD_LISTEN", &addr)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(dir.path(), &addr, &mut child);
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/auth/user"))
        .json(
            &json!({ "username": "embedded", "email": "e@example.com", "password": "long enough" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert!(dir.path().join("authd-data/authd.sqlite3").exists());
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful stop exits 0, got {status}");
    assert!(
        !healthy(dir.path(), &addr),
        "healthcheck fails once the server is gone"
    );
}

#[tokio::test]
async fn migrate_applies_the_schema_once_and_is_idempotent() {
    let pg = PgServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = run(authd(dir.path())
            .arg("migrate")
            .env("DATABASE_URL", &pg.url));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "_sqlx_migrations",
            "account_tokens",
            "event_history",
            "idempotency_keys",
            "login_throttle",
            "mail_outbox",
            "mfa_challenges",
            "mfa_factors",
            "outbox",
            "recovery_codes",
            "refresh_families",
            "refresh_tokens",
            "signing_keys",
            "users",
            "webauthn_ceremonies"
        ]
    );
    pool.close().await;
}

#[tokio::test]
async fn events_lists_the_waiting_outbox_newest_first_when_publishing_is_off() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for name in ["first", "second", "third"] {
        app.create_user(name).await;
    }
    let StoreConfig::Sqlite { path } = &app.store_config else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = run(authd(dir.path())
        .args(["events", "--limit", "2"])
        .env("AUTHD_DATA_DIR", path.parent().unwrap()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["event"]["data"]["username"], "third");
    assert_eq!(lines[1]["event"]["data"]["username"], "second");
    assert_eq!(lines[0]["type"], "authd.user.created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tail_prints_what_the_relay_published() {
    let broker = Broker::start();
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.relay = Some(RelayConfig {
            kafka: KafkaConfig {
                brokers: broker.brokers(),
                topic: "authd.user-events".into(),
                partitions: 2,
                replication: 1,
                properties: Default::default(),
            },
            batch: 100,
            poll: Duration::from_millis(500),
        })
    })
    .await;
    let ids = [
        app.create_user("tail1").await,
        app.create_user("tail2").await,
    ];
    app.wait_outbox_empty(60).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run(authd(dir.path())
        // Ends at the two events it must print; the idle timeout only bounds a hang.
        .args(["events", "tail", "--from-beginning", "--max", "2"])
        .args(["--idle-timeout", "60"])
        .args(["--brokers", &broker.brokers()]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut subjects: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]["subject"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    subjects.sort();
    let mut expected = ids.to_vec();
    expected.sort();
    assert_eq!(subjects, expected);
}
