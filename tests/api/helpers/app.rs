//! `TestApp`: the real `Application` on port 0 over a real store, how it starts and
//! stops, and the configuration tests start from. Its requests (http.rs), users
//! (users.rs) and look at the database (store.rs) are further `impl TestApp` blocks.

use std::net::SocketAddr;
use std::time::Duration;

use authd::clock::ManualClock;
use authd::config::{Config, StoreConfig};
use authd::hashing::{HashParams, PoolConfig};
use authd::http::state::AppState;
use authd::mail::Delivery;
use authd::startup::Application;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::store::Db;
use crate::pg::PgServer;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Cheap hashing keeps the suite fast; tests about the parameters set their own.
pub const TEST_HASH: HashParams = HashParams {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

pub struct TestApp {
    pub addr: SocketAddr,
    /// The admin API's address, when the config has one.
    pub admin_addr: Option<SocketAddr>,
    /// Where GET /metrics is served (the service port unless a listener of its own).
    pub metrics_addr: SocketAddr,
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
    /// Where its development mail goes (`Delivery::Files`), its own: authd's
    /// default for Postgres is one directory for every process on the host.
    _mail: tempfile::TempDir,
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
        let mail = tempfile::tempdir().unwrap();
        config.mail.delivery = Delivery::Files {
            dir: mail.path().join("mail"),
        };
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
        let metrics_addr = app.metrics_addr();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            admin_addr,
            metrics_addr,
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
            _mail: mail,
        }
    }

    /// Where development mail goes unless the test chose another delivery.
    pub fn mail_dir(&self) -> std::path::PathBuf {
        self._mail.path().join("mail")
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

    /// Stops the application as SIGKILL would: every task of it ends where it is
    /// (a mail in the middle of its send, a request in flight), nothing drains.
    pub fn kill(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
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
