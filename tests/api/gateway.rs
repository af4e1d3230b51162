//! Through nginx, configured from nginx/ exactly as scripts/stack does it, in front
//! of real authd processes (so that one can be SIGKILLed).
//! Over 300 lines: the process launcher and three long scenarios that share it.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::broker::Broker;
use crate::helpers::{free_port, sign_up_body, stop_child, wait_port, Replica, PASSWORD};
use crate::pg::PgServer;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const NGINX_HINT: &str = "nginx must be on PATH: run scripts/test, or apt-get install nginx";

/// nginx with the repository's configuration, rendered by scripts/lib/services.sh.
struct Gateway {
    child: Child,
    port: u16,
}

impl Gateway {
    fn start(replicas: &[&Replica], dir: &Path) -> Gateway {
        let port = free_port();
        let servers: String = replicas
            .iter()
            .map(|r| format!("server 127.0.0.1:{} max_fails=1 fail_timeout=5s; ", r.port))
            .collect();
        let conf = dir.join("nginx");
        let status = Command::new("bash")
            .arg("-c")
            .arg(r#"source "$1/scripts/lib/services.sh" && nginx_render "$1/nginx" "$2" "$3" "$4""#)
            .args([
                "render",
                ROOT,
                conf.to_str().unwrap(),
                &port.to_string(),
                &servers,
            ])
            .status()
            .unwrap();
        assert!(status.success(), "rendering nginx/ failed");
        let globals = format!(
            "daemon off; pid {0}/nginx.pid; error_log {0}/error.log;",
            conf.display()
        );
        let mut child = Command::new("nginx")
            .arg("-p")
            .arg(&conf)
            .arg("-c")
            .arg(conf.join("nginx.conf"))
            .args(["-g", &globals])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("nginx.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("nginx.err")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nginx ({e}). {NGINX_HINT}"));
        wait_port(port, &mut child, "nginx");
        Gateway { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Gateway {
    /// SIGTERM, not SIGKILL: a killed master would leave its workers behind.
    fn drop(&mut self) {
        stop_child(&mut self.child, "TERM");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behind_nginx_share_the_work_and_the_state() {
    let pg = PgServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let a = Replica::start("replica-a", &pg.url, None, dir.path());
    let b = Replica::start("replica-b", &pg.url, None, dir.path());
    let gateway = Gateway::start(&[&a, &b], dir.path());
    let client = reqwest::Client::new();

    let mut served: HashMap<String, usize> = HashMap::new();
    for i in 0..20 {
        let response = client
            .post(gateway.url("/auth/user"))
            .json(&sign_up_body(&format!("rr{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let instance = response.headers()["x-authd-instance"]
            .to_str()
            .unwrap()
            .to_string();
        *served.entry(instance).or_default() += 1;
    }
    assert_eq!(
        served.len(),
        2,
        "round-robin reaches both replicas: {served:?}"
    );
    assert!(served.values().all(|n| *n >= 5), "{served:?}");

    // what one replica wrote, the other refuses: no stickiness needed
    let direct = |r: &Replica| format!("http://127.0.0.1:{}/auth/user", r.port);
    let created = client
        .post(direct(&a))
        .json(&sign_up_body("shared"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let again = client
        .post(direct(&b))
        .json(&sign_up_body("shared"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    let via_gateway = client
        .post(gateway.url("/auth/user"))
        .json(&sign_up_body("shared"))
        .send()
        .await
        .unwrap();
    assert_eq!(via_gateway.status().as_u16(), 409);

    // request ids: kept when given, made by nginx otherwise, echoed by authd
    let kept = client
        .get(gateway.url("/readyz"))
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status().as_u16(), 200);
    assert_eq!(kept.headers()["x-request-id"], "trace-me-1");
    let made = client.get(gateway.url("/healthz")).send().await.unwrap();
    let id = made.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32, "nginx's $request_id: {id}");

    // only the public routes are exposed: not /metrics, not the admin API
    for path in ["/metrics", "/admin/users", "/admin/openapi.json"] {
        let hidden = client.get(gateway.url(path)).send().await.unwrap();
        assert_eq!(hidden.status().as_u16(), 404, "{path}");
        assert!(
            hidden.headers().get("x-authd-instance").is_none(),
            "{path} answered by nginx itself"
        );
    }
    let too_big = client
        .post(gateway.url("/auth/user"))
        .header("content-type", "application/json")
        .body(vec![b' '; 20 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status().as_u16(), 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_run_costs_later_requests_nothing() {
    let pg = PgServer::start().await;
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let mut a = Replica::start("replica-a", &pg.url, Some(&broker.brokers()), dir.path());
    let b = Replica::start("replica-b", &pg.url, Some(&broker.brokers()), dir.path());
    let gateway = Gateway::start(&[&a, &b], dir.path());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (client, url) = (client.clone(), gateway.url("/auth/user"));
        workers.spawn(async move {
            let mut results = Vec::new();
            for i in 0..60 {
                let sent = started.elapsed();
                let outcome = client
                    .post(&url)
                    .json(&sign_up_body(&format!("fail{w}_{i}")))
                    .send()
                    .await;
                let outcome = match outcome {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        Ok((status, body["id"].as_str().map(str::to_string)))
                    }
                    Err(e) => Err(e.to_string()),
                };
                results.push((sent, outcome));
            }
            results
        });
    }
    let users = sqlx::PgPool::connect(&pg.url).await.unwrap();
    loop {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&users)
            .await
            .unwrap_or(0);
        if n >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.kill();
    let killed = started.elapsed();
    let results: Vec<_> = workers.join_all().await.into_iter().flatten().collect();

    let after: Vec<_> = results.iter().filter(|(sent, _)| *sent > killed).collect();
    assert!(
        after.len() >= 50,
        "the run went on after the kill ({} requests)",
        after.len()
    );
    for (sent, outcome) in &after {
        match outcome {
            Ok((201, Some(_))) => {}
            other => panic!(
                "request sent {:?} after the kill got {other:?}",
                *sent - killed
            ),
        }
    }
    // every 201, before or after the kill, has its row and its event
    let created: HashSet<String> = results
        .iter()
        .filter_map(|(_, o)| match o {
            Ok((201, Some(id))) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id::text = ANY($1)")
        .bind(created.iter().cloned().collect::<Vec<_>>())
        .fetch_one(&users)
        .await
        .unwrap();
    assert_eq!(rows as usize, created.len());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&users)
            .await
            .unwrap();
        if waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} events never left the outbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let consumer = authd::events::kafka::tail_consumer(
        &broker.brokers(),
        "authd.user-events",
        authd::events::kafka::Start::Beginning,
    )
    .await
    .unwrap();
    let mut published = HashSet::new();
    authd::events::kafka::consume_until_idle(&consumer, Duration::from_secs(3), None, |m| {
        published.insert(m["key"].as_str().unwrap().to_string());
    })
    .await
    .unwrap();
    let missing: Vec<_> = created.difference(&published).collect();
    assert!(
        missing.is_empty(),
        "{} users have no event: {missing:?}",
        missing.len()
    );
}

/// A client whose connections come from `source` (any 127/8 address is loopback).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_through_nginx_works_on_every_replica_and_counts_the_real_client() {
    let pg = PgServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // nginx (127.0.0.1) is the trusted proxy; clients connect from 127.0.0.2/3.
    let env = [
        ("AUTHD_TRUSTED_PROXIES", "127.0.0.1"),
        ("AUTHD_LOGIN_MAX_FAILURES", "100"),
        ("AUTHD_LOGIN_MAX_FAILURES_PER_CLIENT", "3"),
    ];
    let a = Replica::start_with("replica-a", &pg.url, None, dir.path(), &env);
    let b = Replica::start_with("replica-b", &pg.url, None, dir.path(), &env);
    let gateway = Gateway::start(&[&a, &b], dir.path());
    let client = client_from("127.0.0.2");
    let created = client
        .post(gateway.url("/auth/user"))
        .json(&sign_up_body("nina"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let login = json!({ "login": "nina", "password": PASSWORD });
    let tokens: Value = client
        .post(gateway.url("/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let mut served = HashSet::new();
    for _ in 0..6 {
        let me = client
            .get(gateway.url("/auth/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status().as_u16(), 200);
        served.insert(
            me.headers()["x-authd-instance"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        served.len(),
        2,
        "both replicas accept the token: {served:?}"
    );
    let jwks = client
        .get(gateway.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status().as_u16(), 200);

    // Failed logins count against the address nginx saw, whatever X-Forwarded-For
    // the client sends along.
    let attempt = |client: &reqwest::Client, i: usize| {
        client
            .post(gateway.url("/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({ "login": format!("ghost{i}"), "password": "wrong password" }))
            .send()
    };
    for i in 0..3 {
        assert_eq!(attempt(&client, i).await.unwrap().status().as_u16(), 401);
    }
    let locked = attempt(&client, 9).await.unwrap();
    assert_eq!(locked.status().as_u16(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    let other = client_from("127.0.0.3");
    assert_eq!(attempt(&other, 9).await.unwrap().status().as_u16(), 401);
}
