//! authd-verify's example service (crates/authd-verify/examples/protected.rs) with a
//! real broker: it accepts a live token, and refuses it shortly after a logout at
//! authd, without calling authd (its JWKS fetches stay at the one at start, and
//! authd, a process of its own here, counts no JWKS request meanwhile); after
//! a key rotation it fetches the JWKS once more, and not for a made-up kid.
//! AUTHD_REVOCATION_ROUNDS=N (default 5) measures N logouts and prints the delays:
//! scripts/bench-revocation runs it with 100.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::broker::Broker;
use crate::helpers::{child_command, eventually, sign_up_body, Replica, Tokens, PASSWORD, TOPIC};
use crate::pg::PgServer;

struct Protected {
    child: Child,
    url: String,
}

impl Drop for Protected {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example_binary() -> PathBuf {
    let path = crate::helpers::target_dir().join("debug/examples/protected");
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (cargo build -p authd-verify --example protected)",
        path.display()
    );
    path
}

/// authd as a process of its own over its own Postgres: its /metrics counts its
/// own requests only (the apps of this test binary share one recorder, so there
/// parallel tests' JWKS requests would count too).
struct Authd {
    replica: Replica,
    pg: PgServer,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Authd {
    async fn start(broker: &Broker) -> Authd {
        let pg = PgServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let replica = Replica::start_with(
            "verify",
            &pg.url,
            Some(&broker.brokers()),
            dir.path(),
            // Sign with a rotated key at once (see the end of the test).
            &[("AUTHD_KEYS_REFRESH_MS", "0"), ("AUTHD_RELAY_BATCH", "100")],
        );
        Authd {
            replica,
            pg,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.replica.port)
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn tokens(&self, login: &str) -> Tokens {
        let body = json!({ "login": login, "password": PASSWORD });
        let response = self.post("/auth/login", body).await;
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    async fn logout(&self, refresh: &str) {
        let body = json!({ "refresh_token": refresh });
        assert_eq!(self.post("/auth/logout", body).await.status().as_u16(), 204);
    }

    /// Waits until the relay has published every event.
    async fn wait_outbox_empty(&self) {
        let pool = sqlx::PgPool::connect(&self.pg.url).await.unwrap();
        let pool = &pool;
        eventually(60, "the outbox emptied", || async move {
            let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
                .fetch_one(pool)
                .await
                .unwrap();
            waiting == 0
        })
        .await;
    }

    /// JWKS requests this authd served, from its own metrics.
    async fn jwks_served(&self) -> f64 {
        let text = self.client.get(self.url("/metrics")).send().await.unwrap();
        let text = text.text().await.unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("authd_http_requests_total") && l.contains("/.well-known/jwks.json")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

fn start_protected(authd: &Authd, issuer: &str, broker: &Broker) -> Protected {
    let mut child = child_command(example_binary())
        .env("AUTHD_JWKS_URL", authd.url("/.well-known/jwks.json"))
        .env("AUTHD_KAFKA_BROKERS", broker.brokers())
        .env("AUTHD_KAFKA_TOPIC", TOPIC)
        .env("AUTHD_TOKEN_ISSUER", issuer)
        .env("AUTHD_TOKEN_AUDIENCE", "authd")
        .env("LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the example service");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the example service said {line:?}"));
    Protected {
        url: format!("http://{addr}"),
        child,
    }
}

async fn hello(authd: &Authd, protected: &Protected, token: &str) -> u16 {
    authd
        .client
        .get(format!("{}/hello", protected.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn json_at(authd: &Authd, url: &str, token: Option<&str>) -> Value {
    let mut request = authd.client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_refuses_a_token_soon_after_logout_without_calling_authd() {
    let broker = Broker::start();
    let authd = Authd::start(&broker).await;
    let signed_up = authd.post("/auth/user", sign_up_body("carol")).await;
    assert_eq!(signed_up.status().as_u16(), 201);
    // The issuer as authd states it (its AUTHD_PUBLIC_URL).
    let discovery = json_at(
        &authd,
        &authd.url("/.well-known/openid-configuration"),
        None,
    )
    .await;
    let issuer = discovery["issuer"].as_str().unwrap().to_string();
    // A revocation from before the service started is known once it serves.
    let early = authd.tokens("carol").await;
    authd.logout(&early.refresh_token).await;
    authd.wait_outbox_empty().await;
    let protected = start_protected(&authd, &issuer, &broker);
    assert_eq!(hello(&authd, &protected, &early.access_token).await, 401);
    assert_eq!(hello(&authd, &protected, "not.a.token").await, 401);

    let served_before = authd.jwks_served().await;
    let rounds: usize = std::env::var("AUTHD_REVOCATION_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let mut delays = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = authd.tokens("carol").await;
        assert_eq!(
            hello(&authd, &protected, &t.access_token).await,
            200,
            "a live token"
        );
        let hello_url = format!("{}/hello", protected.url);
        let body = json_at(&authd, &hello_url, Some(&t.access_token)).await;
        assert!(body["session"].is_string());
        let started = Instant::now();
        authd.logout(&t.refresh_token).await;
        // Polled every 5 ms: scripts/bench-revocation reports these delays.
        loop {
            if hello(&authd, &protected, &t.access_token).await == 401 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the service still accepts the token 20 s after the logout"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        delays.push(started.elapsed());
    }
    // Never called: authd served no JWKS meanwhile, and the service fetched once.
    assert_eq!(authd.jwks_served().await, served_before);
    let stats = json_at(&authd, &format!("{}/stats", protected.url), None).await;
    assert_eq!(stats["jwks_fetches"], 1);

    // A key rotation: the first token of the new key makes the service fetch the
    // JWKS again, once; a made-up kid right after fetches nothing more.
    let out = child_command(env!("CARGO_BIN_EXE_authd"))
        .args(["keys", "rotate"])
        .env("DATABASE_URL", &authd.pg.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated = authd.tokens("carol").await;
    assert_eq!(hello(&authd, &protected, &rotated.access_token).await, 200);
    let made_up = {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT","kid":"made-up"}"#);
        let rest = rotated.access_token.split_once('.').unwrap().1;
        format!("{header}.{rest}")
    };
    assert_eq!(hello(&authd, &protected, &made_up).await, 401);
    let stats = json_at(&authd, &format!("{}/stats", protected.url), None).await;
    assert_eq!(stats["jwks_fetches"], 2);

    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p =
        |q: f64| ms(delays[((delays.len() as f64 * q).ceil() as usize).clamp(1, delays.len()) - 1]);
    println!(
        "revocation delay (logout answered -> the service refuses), {} rounds: median {:.0} ms, p99 {:.0} ms, min {:.0} ms, max {:.0} ms",
        delays.len(),
        p(0.5),
        p(0.99),
        ms(delays[0]),
        ms(delays[delays.len() - 1])
    );
}
