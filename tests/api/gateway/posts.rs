//! nginx never sends a POST twice: a replica that dies with a sign-up in flight
//! (the connection closes before an answer) costs that request a 503 the client
//! may retry, and the request is not replayed on the other replica, where it could
//! create the user a second time. A GET in the same situation is replayed: the
//! counting below sees a replay, so it would see one of a POST. A POST with an
//! Idempotency-Key to a route that honours one is replayed too, after a death or
//! 1.5 s of silence (the key makes it safe); the same header on another route
//! (a login) changes nothing.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Gateway;

/// A stand-in replica on a port of its own: it records each request line it
/// reads; `Dies` closes the connection instead of answering (a replica killed
/// with the request in flight), `Hangs` never answers (SIGSTOP), `Answers` 201.
struct Upstream {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Dies,
    Hangs,
    Answers,
    /// Answers a POST after 2.5 s (a healthy replica under overload), the rest at once.
    SlowPosts,
}

impl Upstream {
    async fn start(mode: Mode) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&log), mode));
            }
        });
        Upstream { port, seen }
    }

    fn seen(&self, method: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|l| l.starts_with(method)).count()
    }
}

/// Reads requests (head, then a Content-Length body) off one connection.
async fn serve(mut stream: TcpStream, seen: Arc<Mutex<Vec<String>>>, mode: Mode) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        seen.lock()
            .unwrap()
            .push(head.lines().next().unwrap_or("").to_string());
        match mode {
            Mode::Dies => return, // the connection closes with no answer
            Mode::Hangs => {
                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                return;
            }
            Mode::SlowPosts if head.starts_with("POST") => {
                tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
            }
            Mode::Answers | Mode::SlowPosts => {}
        }
        let answer =
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Sends `method` to `path` (with `key` as its Idempotency-Key) through a fresh
/// gateway in front of a failing (`mode`) and a live upstream until the failing
/// one has received one; the statuses, in order.
async fn until_the_failing_one_is_reached(
    mode: Mode,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
) -> (Vec<u16>, Upstream, Upstream) {
    let dir = tempfile::tempdir().unwrap();
    let (failing, live) = (
        Upstream::start(mode).await,
        Upstream::start(Mode::Answers).await,
    );
    let gateway = Gateway::start_ports(&[failing.port, live.port], dir.path());
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    // Round-robin among equals: the failing one is reached within a few requests.
    for _ in 0..6 {
        let mut request = client
            .request(method.clone(), gateway.url(path))
            .header("content-type", "application/json")
            .body(r#"{"username":"once","email":"once@example.com","password":"correct horse battery"}"#);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let sent = request.send().await.unwrap();
        statuses.push(sent.status().as_u16());
        if failing.seen(method.as_str()) > 0 {
            break;
        }
    }
    assert!(
        failing.seen(method.as_str()) > 0,
        "the failing upstream was never reached: {statuses:?}"
    );
    (statuses, failing, live)
}

async fn until_the_dying_one_is_reached(
    method: reqwest::Method,
    path: &str,
) -> (Vec<u16>, Upstream, Upstream) {
    until_the_failing_one_is_reached(Mode::Dies, method, path, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_in_flight_on_a_dying_replica_is_never_sent_again() {
    let (statuses, dying, live) =
        until_the_dying_one_is_reached(reqwest::Method::POST, "/auth/user").await;
    assert_eq!(
        dying.seen("POST") + live.seen("POST"),
        statuses.len(),
        "a POST reached the replicas more often than it was sent: {statuses:?}"
    );
    assert_eq!(
        statuses.last(),
        Some(&503),
        "the client is told to retry: {statuses:?}"
    );
    assert_eq!(
        live.seen("POST"),
        statuses.iter().filter(|s| **s == 201).count()
    );
}

/// The control: the same failure on a GET is replayed on the other replica, and
/// the counting above sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_in_the_same_failure_is_replayed_and_counted() {
    let (statuses, dying, live) =
        until_the_dying_one_is_reached(reqwest::Method::GET, "/healthz").await;
    assert_eq!(
        statuses.last(),
        Some(&201),
        "replayed on the live one: {statuses:?}"
    );
    assert_eq!(dying.seen("GET") + live.seen("GET"), statuses.len() + 1);
}

/// A keyed sign-up in flight on a dying replica goes to the live one: the client
/// gets its 201, not a 503 and a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_post_in_flight_on_a_dying_replica_goes_to_another() {
    let (statuses, dying, live) = until_the_failing_one_is_reached(
        Mode::Dies,
        reqwest::Method::POST,
        "/auth/user",
        Some("k1"),
    )
    .await;
    assert_eq!(statuses.last(), Some(&201), "replayed: {statuses:?}");
    assert_eq!(dying.seen("POST") + live.seen("POST"), statuses.len() + 1);
}

/// The same on a replica that hangs: after 1.5 s of silence, not the 4 s of an
/// unkeyed request and a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_post_on_a_hung_replica_goes_to_another() {
    let (statuses, hung, live) = until_the_failing_one_is_reached(
        Mode::Hangs,
        reqwest::Method::POST,
        "/auth/user",
        Some("k2"),
    )
    .await;
    assert_eq!(statuses.last(), Some(&201), "replayed: {statuses:?}");
    assert_eq!(hung.seen("POST") + live.seen("POST"), statuses.len() + 1);
}

/// An unkeyed sign-up on a hung replica is not sent again: the client gets the
/// 503 that tells it to retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unkeyed_post_on_a_hung_replica_is_never_sent_again() {
    let (statuses, hung, live) =
        until_the_failing_one_is_reached(Mode::Hangs, reqwest::Method::POST, "/auth/user", None)
            .await;
    assert_eq!(statuses.last(), Some(&503), "{statuses:?}");
    assert_eq!(hung.seen("POST") + live.seen("POST"), statuses.len());
}

/// An Idempotency-Key on a route that takes none (a login) does not make nginx
/// send it twice: authd would not deduplicate it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_on_a_route_without_keys_changes_nothing() {
    let (statuses, dying, live) = until_the_failing_one_is_reached(
        Mode::Dies,
        reqwest::Method::POST,
        "/auth/login",
        Some("k3"),
    )
    .await;
    assert_eq!(statuses.last(), Some(&503), "{statuses:?}");
    assert_eq!(dying.seen("POST") + live.seen("POST"), statuses.len());
}

/// Keyed requests slower than nginx's 1.5 s on every replica (overload) cost
/// those requests a 503, never the replicas: had the timeouts counted as
/// failures, every replica would be out of the upstream and every route, a
/// health check here, would get 503 for seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_keyed_requests_take_no_replica_out() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        Upstream::start(Mode::SlowPosts).await,
        Upstream::start(Mode::SlowPosts).await,
    );
    let gateway = Gateway::start_ports(&[a.port, b.port], dir.path());
    let client = reqwest::Client::new();
    let slow = client
        .post(gateway.url("/auth/user"))
        .header("content-type", "application/json")
        .header("idempotency-key", "k4")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        slow.status().as_u16(),
        503,
        "both replicas kept silent for 1.5 s"
    );
    assert_eq!(a.seen("POST") + b.seen("POST"), 2, "tried on each once");
    for _ in 0..4 {
        let health = client.get(gateway.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status().as_u16(), 201, "a replica was taken out");
    }
}
