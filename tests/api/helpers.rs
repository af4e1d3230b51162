//! `TestApp`: the real `Application` on port 0 over a real store, and one method per
//! endpoint. Over 300 lines: it grows by one short method per endpoint, which
//! every test file uses; splitting it would scatter one type.

use std::net::SocketAddr;
use std::time::Duration;

use authd::clock::ManualClock;
use authd::config::{Config, StoreConfig};
use authd::hashing::{HashParams, PoolConfig};
use authd::http::state::AppState;
use authd::startup::Application;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::pg::PgServer;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The test user's password: `create_user` signs up with it, and tests log in with it.
pub const PASSWORD: &str = "correct horse battery";

/// Cheap hashing keeps the suite fast; tests about the parameters set their own.
pub const TEST_HASH: HashParams = HashParams {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

/// The test's own connection to the application's database: tests look at rows
/// directly, beside the application's `Store`.
#[derive(Clone)]
pub enum Db {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl Db {
    pub async fn connect(config: &StoreConfig) -> Db {
        match config {
            StoreConfig::Postgres { url } => Db::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .unwrap(),
            ),
            StoreConfig::Sqlite { path } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10));
                Db::Sqlite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(2)
                        .connect_with(options)
                        .await
                        .unwrap(),
                )
            }
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The admin API's address, when the config has one.
    pub admin_addr: Option<SocketAddr>,
    /// A pool of the test's own on the application's database, for assertions.
    pub store: Db,
    pub store_config: StoreConfig,
    pub state: AppState,
    /// The application's clock: tests move it instead of sleeping.
    pub clock: ManualClock,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    // Dropped last: the database outlives the application.
    pub pg: Option<PgServer>,
    _data: Option<tempfile::TempDir>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let data = tempfile::tempdir().unwrap();
        let (store, pg) = match backend {
            Backend::Sqlite => (
                StoreConfig::Sqlite {
                    path: data.path().join("authd.sqlite3"),
                },
                None,
            ),
            Backend::Postgres => {
                let pg = PgServer::start().await;
                (
                    StoreConfig::Postgres {
                        url: pg.url.clone(),
                    },
                    Some(pg),
                )
            }
        };
        Self::start(store, pg, Some(data), ManualClock::starting_now(), tweak).await
    }

    /// A second application (a replica) on this one's database, with the same clock.
    pub async fn replica(&self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::start(
            self.store_config.clone(),
            None,
            None,
            self.clock.clone(),
            tweak,
        )
        .await
    }

    async fn start(
        store_config: StoreConfig,
        pg: Option<PgServer>,
        data: Option<tempfile::TempDir>,
        clock: ManualClock,
        tweak: impl FnOnce(&mut Config),
    ) -> TestApp {
        let mut config = test_config(store_config.clone());
        tweak(&mut config);
        // TEST_LOG=1 shows the application's logs (RUST_LOG filters them).
        if std::env::var_os("TEST_LOG").is_some() {
            authd::telemetry::init(authd::config::LogFormat::Pretty);
        }
        // The test's own pool: the application closes its pool when it stops.
        let store = Db::connect(&config.store).await;
        let app = Application::build_with_clock(config, std::sync::Arc::new(clock.clone()))
            .await
            .expect("build the application");
        let addr = app.local_addr();
        let admin_addr = app.admin_addr();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            admin_addr,
            store,
            store_config,
            state,
            clock,
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .unwrap(),
            shutdown: Some(tx),
            server: Some(server),
            pg,
            _data: data,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Asks the server to stop (as SIGTERM does) without waiting.
    pub fn request_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Asks the server to stop and waits until it has drained and returned.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.request_stop();
        match self.server.take() {
            Some(server) => server.await.expect("server task"),
            None => Ok(()),
        }
    }

    pub async fn sign_up(&self, username: &str, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/auth/user",
            &json!({ "username": username, "email": email, "password": password }),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GET `url` (anywhere, with an optional bearer token) and its JSON body.
    pub async fn json_at(&self, url: &str, token: Option<&str>) -> Value {
        let mut request = self.client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    pub async fn login(&self, login: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/auth/login",
            &json!({ "login": login, "password": password }),
        )
        .await
    }

    /// Logs in and returns the token response (panics unless 200).
    pub async fn tokens(&self, login: &str, password: &str) -> Tokens {
        let response = self.login(login, password).await;
        assert_eq!(response.status().as_u16(), 200, "login of {login}");
        response.json().await.unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json("/auth/token", &json!({ "refresh_token": refresh_token }))
            .await
    }

    /// A request with `Authorization: Bearer <token>` and an optional JSON body.
    pub async fn authed(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.authed(reqwest::Method::GET, "/auth/me", token, None)
            .await
    }

    /// Runs a query that returns one integer, on whichever store backs the app.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match &self.store {
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    pub async fn text(&self, sql: &str, arg: &str) -> Option<String> {
        match &self.store {
            Db::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_optional(pool)
                .await
                .unwrap(),
            Db::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_optional(pool)
                .await
                .unwrap(),
        }
    }

    pub async fn execute(&self, sql: &str) {
        match &self.store {
            Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        }
        .unwrap()
    }

    /// Signs up `username` and returns the new user's id.
    pub async fn create_user(&self, username: &str) -> String {
        let response = self
            .sign_up(username, &format!("{username}@example.com"), PASSWORD)
            .await;
        assert_eq!(response.status().as_u16(), 201, "sign-up of {username}");
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }

    /// Waits until the relay has emptied the outbox (panics after `secs`).
    pub async fn wait_outbox_empty(&self, secs: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let waiting = self.outbox().await;
            if waiting == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{waiting} events still in the outbox after {secs} s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub async fn users(&self) -> i64 {
        self.scalar("SELECT COUNT(*) FROM users").await
    }

    pub async fn outbox(&self) -> i64 {
        self.scalar("SELECT COUNT(*) FROM outbox").await
    }

    /// The outbox payloads of one user, in order, as JSON.
    pub async fn events_of(&self, user_id: &str) -> Vec<Value> {
        let sql = "SELECT CAST(payload AS TEXT) FROM outbox WHERE CAST(aggregate_id AS TEXT) = $1 ORDER BY seq";
        let rows: Vec<String> = match &self.store {
            Db::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(user_id)
                .fetch_all(pool)
                .await
                .unwrap(),
            Db::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(user_id)
                .fetch_all(pool)
                .await
                .unwrap(),
        };
        rows.iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect()
    }
}

/// The configuration tests start from: port 0, cheap hashing, no relay, the
/// library's token and throttle defaults.
pub fn test_config(store: StoreConfig) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        hash: TEST_HASH,
        hash_pool: PoolConfig {
            workers: 2,
            queue_bound: Some(64),
            max_wait: Duration::from_secs(30),
        },
        instance_id: "test".into(),
        ..Config::defaults(store)
    }
}

/// What login and refresh answer.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

/// Runs the test body once per store: `both_stores!(name);` for `async fn name(Backend)`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )+
    };
}

/// Parses a problem+json response, checking its content type and status.
pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string());
    body
}

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
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        std::path::PathBuf::from,
    )
}

/// The python of scripts/test's venv (target/pytools), which has `what` (PyPI
/// packages scripts/test installs).
pub fn pytools_python(what: &str) -> std::path::PathBuf {
    let path = target_dir().join("pytools/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (it installs {what} from PyPI)",
        path.display()
    );
    path
}

/// A unique suffix so tests never collide in a shared store.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}
