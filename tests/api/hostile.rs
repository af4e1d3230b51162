//! Slow and abusive clients get a bounded answer or a closed connection, never a
//! held thread or a 500: headers sent a byte at a time, bodies that never finish,
//! heads over 16 KiB, a connection limit, and malformed JSON of every kind.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_stores;
use crate::helpers::{accept_queue, eventually, problem, Backend, TestApp, PASSWORD};

both_stores!(malformed_json_of_every_kind_is_a_4xx_never_a_5xx);

/// Reads until the server closes the connection (10 s at most: a hang fails).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("the server closed the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

async fn short_timeouts() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |c| {
        c.header_timeout = Duration::from_millis(500);
        c.body_timeout = Duration::from_millis(500);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_a_byte_at_a_time_get_the_connection_closed() {
    let app = short_timeouts().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = b"POST /auth/user HTTP/1.1\r\nHost: authd\r\nX-Slow: ";
    let mut closed = false;
    for byte in head.iter().cycle().take(60) {
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = read_to_close(&mut stream).await;
    assert!(
        closed || answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert_eq!(
        app.get("/healthz").await.status().as_u16(),
        200,
        "the server is fine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_finishes_gets_408() {
    let app = short_timeouts().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"POST /auth/user HTTP/1.1\r\nHost: authd\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\":")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("urn:authd:problem:body-timeout"),
        "{answer}"
    );
    assert_eq!(app.users().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_over_16_kib_is_431() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", "p".repeat(17 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 431);
    let fine = app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", "p".repeat(8 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status().as_u16(), 200);
}

/// One GET /healthz on a kept-alive connection, and its whole answer (10 s at most).
async fn round_trip(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: authd\r\n\r\n")
        .await
        .unwrap();
    read_answer(stream).await
}

/// Reads one answer: its head, then as many body bytes as Content-Length says.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = async {
        loop {
            let text = String::from_utf8_lossy(&out).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")?
                            .trim()
                            .parse()
                            .ok()
                    })
                    .unwrap_or(0);
                if out.len() >= end + 4 + length {
                    return text;
                }
            }
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a whole answer: {text}");
            out.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_limit_a_client_waits_until_a_connection_closes() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.max_connections = 2).await;
    let mut first = TcpStream::connect(app.addr).await.unwrap();
    let mut second = TcpStream::connect(app.addr).await.unwrap();
    // Both served, so both hold a slot (not merely made by the kernel).
    assert!(round_trip(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(round_trip(&mut second).await.starts_with("HTTP/1.1 200"));
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: authd\r\n\r\n")
        .await
        .unwrap();
    // The third waits in the listener's accept queue: authd does not take it.
    let port = app.addr.port();
    eventually(
        10,
        "the third connection waits in the accept queue",
        || async move { accept_queue(port) == 1 },
    )
    .await;
    // Meanwhile the open connections are served, and the third gets nothing.
    assert!(round_trip(&mut second).await.starts_with("HTTP/1.1 200"));
    let mut byte = [0u8; 1];
    assert!(
        matches!(third.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a third connection is not served while two are open"
    );
    assert_eq!(accept_queue(port), 1);
    drop(first);
    assert!(read_answer(&mut third).await.starts_with("HTTP/1.1 200"));
    drop(second);
}

async fn malformed_json_of_every_kind_is_a_4xx_never_a_5xx(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
    let raw: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "invalid UTF-8",
            b"{\"username\": \"\xff\xfe\"}".to_vec(),
            400,
        ),
        // 20,000 bytes: over the body limit before any parsing
        ("nested 10,000 deep", nested(10_000), 413),
        // within the limit: serde_json stops at depth 128
        ("nested 5,000 deep", nested(5_000), 400),
        (
            "a 1 MiB password",
            format!("{{\"password\": \"{}\"}}", "p".repeat(1 << 20)).into_bytes(),
            413,
        ),
    ];
    for (what, body, status) in raw {
        let response = app.post_raw("/auth/user", "application/json", body).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        problem(response, status).await;
    }
    let bodies: Vec<(&str, Value)> = vec![
        (
            "NUL in the username",
            json!({"username": "a\u{0}b", "email": "nul@example.com", "password": PASSWORD}),
        ),
        (
            "NUL in the email",
            json!({"username": "nulmail", "email": "a\u{0}@example.com", "password": PASSWORD}),
        ),
        (
            "numbers for strings",
            json!({"username": 12345, "email": 1, "password": 12345678}),
        ),
        ("a string for the object", json!("username")),
    ];
    for (what, body) in bodies {
        let response = app.post_json("/auth/user", &body).await;
        assert_eq!(response.status().as_u16(), 422, "{what}");
        problem(response, 422).await;
    }
    // Duplicate keys: JSON leaves it open; the last one counts, and nothing breaks.
    let duplicated = format!(
        r#"{{"username": "first", "username": "second", "email": "dup@example.com", "password": "{PASSWORD}"}}"#
    );
    let response = app
        .post_raw("/auth/user", "application/json", duplicated)
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["username"], "second");
    // A NUL inside a password is a byte like any other: hashed, never stored.
    let nul_password = json!({"username": "nulpass", "email": "nulpass@example.com", "password": "correct\u{0}horse"});
    assert_eq!(
        app.post_json("/auth/user", &nul_password)
            .await
            .status()
            .as_u16(),
        201
    );
    assert_eq!(
        app.login("nulpass", "correct\u{0}horse")
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(app.users().await, 2);
}
