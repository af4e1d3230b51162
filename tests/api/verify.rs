//! authd-verify's example service (crates/authd-verify/examples/protected.rs) with a
//! real broker: it accepts a live token, and refuses it shortly after a logout at
//! authd, without calling authd (its JWKS fetches stay at the one at start); after
//! a key rotation it fetches the JWKS once more, and not for a made-up kid.
//! AUTHD_REVOCATION_ROUNDS=N (default 5) measures N logouts and prints the delays:
//! scripts/bench-revocation runs it with 100.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::broker::Broker;
use crate::helpers::{relay_to, Backend, TestApp, PASSWORD};

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

fn start_protected(app: &TestApp, broker: &Broker) -> Protected {
    let tokens = &app.state.tokens.config;
    let mut child = Command::new(example_binary())
        .env("AUTHD_JWKS_URL", app.url("/.well-known/jwks.json"))
        .env("AUTHD_KAFKA_BROKERS", broker.brokers())
        .env("AUTHD_KAFKA_TOPIC", "authd.user-events")
        .env("AUTHD_TOKEN_ISSUER", &tokens.issuer)
        .env("AUTHD_TOKEN_AUDIENCE", &tokens.audience)
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

async fn hello(app: &TestApp, protected: &Protected, token: &str) -> u16 {
    app.client
        .get(format!("{}/hello", protected.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// JWKS requests authd served, from its own metrics.
async fn jwks_served(app: &TestApp) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("authd_http_requests_total") && l.contains("/.well-known/jwks.json")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_refuses_a_token_soon_after_logout_without_calling_authd() {
    let broker = Broker::start();
    let relay = relay_to(&broker, 100);
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        relay(c);
        // Sign with a rotated key at once (see the end).
        c.tokens.keys_refresh = Default::default();
    })
    .await;
    app.create_user("carol").await;
    // A revocation from before the service started is known once it serves.
    let early = app.tokens("carol", PASSWORD).await;
    let logout = |refresh: String| {
        let app = &app;
        async move {
            let body = json!({ "refresh_token": refresh });
            assert_eq!(
                app.post_json("/auth/logout", &body).await.status().as_u16(),
                204
            );
        }
    };
    logout(early.refresh_token.clone()).await;
    app.wait_outbox_empty(60).await;
    let protected = start_protected(&app, &broker);
    assert_eq!(hello(&app, &protected, &early.access_token).await, 401);
    assert_eq!(hello(&app, &protected, "not.a.token").await, 401);

    let served_before = jwks_served(&app).await;
    let rounds: usize = std::env::var("AUTHD_REVOCATION_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let mut delays = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = app.tokens("carol", PASSWORD).await;
        assert_eq!(
            hello(&app, &protected, &t.access_token).await,
            200,
            "a live token"
        );
        let body = app
            .json_at(&format!("{}/hello", protected.url), Some(&t.access_token))
            .await;
        assert!(body["session"].is_string());
        let started = Instant::now();
        logout(t.refresh_token.clone()).await;
        loop {
            if hello(&app, &protected, &t.access_token).await == 401 {
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
    assert_eq!(jwks_served(&app).await, served_before);
    let stats = app.json_at(&format!("{}/stats", protected.url), None).await;
    assert_eq!(stats["jwks_fetches"], 1);

    // A key rotation: the first token of the new key makes the service fetch the
    // JWKS again, once; a made-up kid right after fetches nothing more.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["keys", "rotate"])
        .env("DATABASE_URL", &app.pg.as_ref().unwrap().url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated = app.tokens("carol", PASSWORD).await;
    assert_eq!(hello(&app, &protected, &rotated.access_token).await, 200);
    let made_up = {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT","kid":"made-up"}"#);
        let rest = rotated.access_token.split_once('.').unwrap().1;
        format!("{header}.{rest}")
    };
    assert_eq!(hello(&app, &protected, &made_up).await, 401);
    let stats = app.json_at(&format!("{}/stats", protected.url), None).await;
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
