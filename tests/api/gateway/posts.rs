//! nginx never sends a POST twice: a replica that dies with a sign-up in flight
//! (the connection closes before an answer) costs that request a 503 the client
//! may retry, and the request is not replayed on the other replica, where it could
//! create the user a second time. A GET in the same situation is replayed: the
//! counting below sees a replay, so it would see one of a POST.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Gateway;

/// A stand-in replica on a port of its own: it records each request line it
/// reads; `dies` closes the connection instead of answering (a replica killed
/// with the request in flight), otherwise it answers 201.
struct Upstream {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    async fn start(dies: bool) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&log), dies));
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
async fn serve(mut stream: TcpStream, seen: Arc<Mutex<Vec<String>>>, dies: bool) {
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
        if dies {
            return; // the connection closes with no answer
        }
        let answer =
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Sends `method` to `path` through a fresh gateway in front of a dying and a
/// live upstream until the dying one has received one; the statuses, in order.
async fn until_the_dying_one_is_reached(
    method: reqwest::Method,
    path: &str,
) -> (Vec<u16>, Upstream, Upstream) {
    let dir = tempfile::tempdir().unwrap();
    let (dying, live) = (Upstream::start(true).await, Upstream::start(false).await);
    let gateway = Gateway::start_ports(&[dying.port, live.port], dir.path());
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    // Round-robin among equals: the dying one is reached within a few requests.
    for _ in 0..6 {
        let sent = client
            .request(method.clone(), gateway.url(path))
            .header("content-type", "application/json")
            .body(r#"{"username":"once","email":"once@example.com","password":"correct horse battery"}"#)
            .send()
            .await
            .unwrap();
        statuses.push(sent.status().as_u16());
        if dying.seen(method.as_str()) > 0 {
            break;
        }
    }
    assert!(
        dying.seen(method.as_str()) > 0,
        "the dying upstream was never reached: {statuses:?}"
    );
    (statuses, dying, live)
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
