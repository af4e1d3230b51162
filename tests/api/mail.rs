//! Mail, email verification and password recovery, end to end against a real SMTP
//! server (aiosmtpd from PyPI, started here): the flows are driven by reading the
//! mails it received.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authd::mail::{Delivery, Verification};
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::{
    claims_of, free_port, problem, pytool, revocations, stop_child, unique, Backend, TestApp,
    PASSWORD,
};

both_stores!(
    verification_required_blocks_login_until_the_mailed_link_is_used,
    an_email_change_waits_for_the_new_address_and_tells_the_old_one,
    a_password_reset_by_mail_sets_the_password_and_ends_every_session,
    mail_waits_for_a_server_that_is_down_and_arrives_once,
);

/// An SMTP server that appends each mail it accepts, parsed by Python's email
/// package, as a JSON line {to, from, subject, text, html}.
const SERVER: &str = r#"
import email, json, sys, threading
from email import policy
from aiosmtpd.controller import Controller
port, out = int(sys.argv[1]), sys.argv[2]
class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        row = {"to": envelope.rcpt_tos, "from": envelope.mail_from, "subject": str(msg["subject"]),
               "text": msg.get_body(preferencelist=("plain",)).get_content(),
               "html": msg.get_body(preferencelist=("html",)).get_content()}
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
        return "250 OK"
controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
threading.Event().wait()
"#;

pub struct SmtpServer {
    pub port: u16,
    out: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    /// A server on a free port.
    pub fn start() -> SmtpServer {
        let mut server = SmtpServer::stopped(free_port());
        server.listen();
        server
    }

    /// A port nobody listens on yet; `listen` starts the server there.
    pub fn stopped(port: u16) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        SmtpServer {
            port,
            out: dir.path().join("mails.jsonl"),
            child: None,
            _dir: dir,
        }
    }

    pub fn listen(&mut self) {
        let mut child = Command::new(pytool("python", "aiosmtpd"))
            .args(["-c", SERVER, &self.port.to_string()])
            .arg(&self.out)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Who each received mail went to, sorted.
    pub fn recipients(&self) -> Vec<String> {
        let mut to: Vec<String> = self
            .mails()
            .iter()
            .map(|m| m["to"][0].as_str().unwrap().to_string())
            .collect();
        to.sort();
        to
    }

    pub fn mails(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The mails to `to`, waiting until there are at least `n` (panics after 20 s).
    pub async fn wait_for(&self, to: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mails: Vec<Value> = self
                .mails()
                .into_iter()
                .filter(|m| m["to"] == json!([to]))
                .collect();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{} mail(s) to {to}, expected {n}; all: {:?}",
                mails.len(),
                self.mails()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "KILL");
        }
    }
}

/// The token of a mail's link (`?token=`), checked against the code it also shows.
pub fn token_of(mail: &Value) -> String {
    let text = mail["text"].as_str().unwrap();
    let at = text.find("?token=").expect("a link with a token") + "?token=".len();
    let token: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "{text}");
    assert!(mail["html"].as_str().unwrap().contains(&token));
    token
}

fn with_mail(
    smtp: &SmtpServer,
    verification: Verification,
) -> impl FnOnce(&mut authd::config::Config) + '_ {
    move |c| {
        c.mail.delivery = Delivery::Smtp { url: smtp.url() };
        c.mail.verification = verification;
        c.mail.app_url = "https://app.example.com".into();
    }
}

async fn event_types(app: &TestApp, id: &str) -> Vec<String> {
    app.events_of(id)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until the mail outbox is empty (panics after 20 s).
async fn wait_mail_outbox_empty(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.scalar("SELECT COUNT(*) FROM mail_outbox").await > 0 {
        assert!(Instant::now() < deadline, "mails still waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn verification_required_blocks_login_until_the_mailed_link_is_used(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Required)).await;
    let response = app.sign_up("alice", "Alice@Example.com", PASSWORD).await;
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email_verified"], false);
    let id = user["id"].as_str().unwrap();

    let mail = &smtp.wait_for("alice@example.com", 1).await[0];
    assert_eq!(mail["subject"], "Confirm your email address");
    assert_eq!(mail["from"], "no-reply@localhost");
    let token = token_of(mail);
    assert!(mail["text"].as_str().unwrap().contains(&format!(
        "https://app.example.com/verify-email?token={token}"
    )));
    assert!(mail["text"].as_str().unwrap().contains("24 hours"));
    let stored = app
        .scalar("SELECT COUNT(*) FROM account_tokens WHERE purpose = 'verify'")
        .await;
    assert_eq!(stored, 1, "one token, kept as its hash only");

    let refused = problem(app.login("alice", PASSWORD).await, 403).await;
    assert_eq!(refused["type"], "urn:authd:problem:email-not-verified");
    let wrong = app.login("alice", "wrong password!").await;
    assert_eq!(
        wrong.status(),
        401,
        "the state shows only after the password"
    );

    let bad = app
        .post_json("/auth/verify", &json!({"token": "x".repeat(43)}))
        .await;
    assert_eq!(
        problem(bad, 401).await["type"],
        "urn:authd:problem:invalid-token"
    );
    let verified = app
        .post_json("/auth/verify", &json!({ "token": token }))
        .await;
    assert_eq!(verified.status(), 200);
    let verified: Value = verified.json().await.unwrap();
    assert_eq!(verified["email_verified"], true);
    let again = app
        .post_json("/auth/verify", &json!({ "token": token }))
        .await;
    assert_eq!(
        problem(again, 401).await["detail"],
        "the token is unknown, expired, already used or replaced by a newer one"
    );

    let t = app.tokens("alice", PASSWORD).await;
    assert_eq!(claims_of(&t.access_token)["email_verified"], true);
    let me: Value = app.me(&t.access_token).await.json().await.unwrap();
    assert_eq!(me["email_verified"], true);
    let refreshed: Value = app.refresh(&t.refresh_token).await.json().await.unwrap();
    let refreshed = refreshed["access_token"].as_str().unwrap();
    assert_eq!(claims_of(refreshed)["email_verified"], true);
    assert_eq!(
        event_types(&app, id).await,
        ["authd.user.created", "authd.user.verified"]
    );

    // A resend for a verified address, and for nobody: the same answer, no mail.
    let mut answers = Vec::new();
    for email in ["alice@example.com", "nobody@example.com"] {
        let r = app
            .post_json("/auth/verify/resend", &json!({ "email": email }))
            .await;
        assert_eq!(r.status(), 202);
        answers.push(r.text().await.unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    wait_mail_outbox_empty(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(smtp.mails().len(), 1, "{:?}", smtp.mails());

    // An unverified user asks again: a new link, and the older one stops working.
    let bob = app.create_user("bob").await;
    let first = token_of(&smtp.wait_for("bob@example.com", 1).await[0]);
    let r = app
        .post_json("/auth/verify/resend", &json!({"email": "Bob@example.com"}))
        .await;
    assert_eq!(r.status(), 202);
    let second = token_of(&smtp.wait_for("bob@example.com", 2).await[1]);
    assert_ne!(first, second);
    let old = app
        .post_json("/auth/verify", &json!({ "token": first }))
        .await;
    assert_eq!(old.status(), 401, "replaced by the newer link");
    let ok = app
        .post_json("/auth/verify", &json!({ "token": second }))
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(app.login("bob", PASSWORD).await.status(), 200);
    assert!(event_types(&app, &bob)
        .await
        .contains(&"authd.user.verified".to_string()));
}

async fn an_email_change_waits_for_the_new_address_and_tells_the_old_one(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Optional)).await;
    let id = app.create_user("carol").await;
    let verify = token_of(&smtp.wait_for("carol@example.com", 1).await[0]);
    assert_eq!(
        app.post_json("/auth/verify", &json!({ "token": verify }))
            .await
            .status(),
        200
    );
    let t = app.tokens("carol", PASSWORD).await;
    let path = format!("/auth/user/{id}");
    let taken = app.create_user("dave").await;
    assert!(!taken.is_empty());
    let conflict = app
        .authed(
            Method::PATCH,
            &path,
            &t.access_token,
            Some(json!({"email": "dave@example.com"})),
        )
        .await;
    assert_eq!(conflict.status(), 409);

    let pending = app
        .authed(
            Method::PATCH,
            &path,
            &t.access_token,
            Some(json!({"email": "Carol@New.example", "username": "carol2"})),
        )
        .await;
    assert_eq!(pending.status(), 202);
    let pending: Value = pending.json().await.unwrap();
    assert_eq!(
        pending["username"], "carol2",
        "the username applies at once"
    );
    assert_eq!(pending["email"], "carol@example.com", "the email waits");
    assert_eq!(pending["email_verified"], true);

    let mail = &smtp.wait_for("carol@new.example", 1).await[0];
    assert_eq!(mail["subject"], "Confirm your new email address");
    let token = token_of(mail);
    let changed = app
        .post_json("/auth/verify", &json!({ "token": token }))
        .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["email"], "carol@new.example");
    assert_eq!(changed["email_verified"], true);

    let notice = &smtp.wait_for("carol@example.com", 2).await[1];
    assert_eq!(notice["subject"], "Your email address was changed");
    assert!(notice["text"]
        .as_str()
        .unwrap()
        .contains("carol@new.example"));
    assert!(!notice["text"].as_str().unwrap().contains("token"));
    assert_eq!(
        event_types(&app, &id).await,
        [
            "authd.user.created",
            "authd.user.verified",
            "authd.user.updated",
            "authd.user.email_changed"
        ]
    );
    assert_eq!(app.login("carol@new.example", PASSWORD).await.status(), 200);
}

async fn a_password_reset_by_mail_sets_the_password_and_ends_every_session(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Off)).await;
    let id = app.create_user("erin").await;
    let t = app.tokens("erin", PASSWORD).await;
    let other = app.tokens("erin", PASSWORD).await;

    // Known and unknown addresses: the same status and body.
    let known = app
        .post_json(
            "/auth/password/forgot",
            &json!({"email": "ERIN@example.com"}),
        )
        .await;
    let unknown = app
        .post_json(
            "/auth/password/forgot",
            &json!({"email": unique("x") + "@example.com"}),
        )
        .await;
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.status(), 202);
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    let invalid = app
        .post_json("/auth/password/forgot", &json!({"email": "not an address"}))
        .await;
    assert_eq!(problem(invalid, 422).await["errors"][0]["field"], "email");

    let first = &smtp.wait_for("erin@example.com", 1).await[0];
    assert_eq!(first["subject"], "Reset your password");
    assert!(first["text"].as_str().unwrap().contains("1 hour"));
    let first = token_of(first);
    wait_mail_outbox_empty(&app).await;
    assert_eq!(smtp.mails().len(), 1, "no mail for the unknown address");

    // A newer request: the older link stops working.
    app.post_json(
        "/auth/password/forgot",
        &json!({"email": "erin@example.com"}),
    )
    .await;
    let second = token_of(&smtp.wait_for("erin@example.com", 2).await[1]);
    let weak = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": second, "password": "password123"}),
        )
        .await;
    assert_eq!(problem(weak, 422).await["errors"][0]["field"], "password");
    let stale = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": first, "password": "a brand new secret"}),
        )
        .await;
    assert_eq!(
        problem(stale, 401).await["type"],
        "urn:authd:problem:invalid-token"
    );
    let done = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": second, "password": "a brand new secret"}),
        )
        .await;
    assert_eq!(done.status(), 204);
    let reused = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": second, "password": "another new secret"}),
        )
        .await;
    assert_eq!(reused.status(), 401, "single use");

    assert_eq!(app.refresh(&t.refresh_token).await.status(), 401);
    assert_eq!(app.refresh(&other.refresh_token).await.status(), 401);
    assert_eq!(app.me(&t.access_token).await.status(), 401);
    assert_eq!(app.login("erin", PASSWORD).await.status(), 401);
    assert_eq!(app.login("erin", "a brand new secret").await.status(), 200);
    assert_eq!(revocations(&app, &id).await, ["password_reset"; 2]);
    assert!(event_types(&app, &id)
        .await
        .contains(&"authd.user.password_reset".to_string()));
    let me: Value = app
        .me(&app.tokens("erin", "a brand new secret").await.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true, "the link reached the address");

    // A link is good for an hour.
    app.post_json(
        "/auth/password/forgot",
        &json!({"email": "erin@example.com"}),
    )
    .await;
    let late = token_of(&smtp.wait_for("erin@example.com", 3).await[2]);
    app.clock.advance(chrono::Duration::seconds(3601));
    let expired = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": late, "password": "yet another secret"}),
        )
        .await;
    assert_eq!(expired.status(), 401);

    // The throttle counts requests per address, known or not.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = app
            .post_json(
                "/auth/password/forgot",
                &json!({"email": "nobody@example.com"}),
            )
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [202, 202, 202, 202, 202, 429]);
}

async fn mail_waits_for_a_server_that_is_down_and_arrives_once(backend: Backend) {
    let mut smtp = SmtpServer::stopped(free_port());
    let app = TestApp::spawn_with(backend, with_mail(&smtp, Verification::Optional)).await;
    let users: Vec<String> = (0..5).map(|i| format!("down{i}")).collect();
    for name in &users {
        app.create_user(name).await;
    }
    // Every mail was tried and failed; none is lost.
    let deadline = Instant::now() + Duration::from_secs(20);
    while app
        .scalar("SELECT COUNT(*) FROM mail_outbox WHERE attempts >= 1")
        .await
        < 5
    {
        assert!(Instant::now() < deadline, "mails were not tried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("authd_mail_waiting 5"), "{metrics}");
    assert!(metrics.contains("authd_mail_failed_total{permanent=\"false\"}"));

    smtp.listen();
    // Retries are due once the (test's) clock passed their back-off.
    let deadline = Instant::now() + Duration::from_secs(30);
    while smtp.mails().len() < 5 {
        assert!(Instant::now() < deadline, "{:?}", smtp.mails());
        app.clock.advance(chrono::Duration::seconds(5));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_mail_outbox_empty(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let expected: Vec<String> = users.iter().map(|u| format!("{u}@example.com")).collect();
    assert_eq!(smtp.recipients(), expected, "each mail once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_send_each_mail_once() {
    let smtp = SmtpServer::start();
    let a = TestApp::spawn_with(Backend::Postgres, with_mail(&smtp, Verification::Optional)).await;
    let b = a.replica(with_mail(&smtp, Verification::Optional)).await;
    let mut expected = Vec::new();
    for i in 0..40 {
        let name = format!("twice{i}");
        let app = if i % 2 == 0 { &a } else { &b };
        app.create_user(&name).await;
        expected.push(format!("{name}@example.com"));
    }
    wait_mail_outbox_empty(&a).await;
    // Time for a second sender to send anything twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    expected.sort();
    assert_eq!(smtp.recipients(), expected, "each mail once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_writes_mails_to_files_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mails = dir.path().join("mail");
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.mail.delivery = Delivery::Files { dir: mails.clone() };
        c.mail.verification = Verification::Optional;
    })
    .await;
    app.create_user("frank").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let eml = loop {
        let files: Vec<_> = std::fs::read_dir(&mails)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        if let Some(file) = files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "eml"))
        {
            break std::fs::read_to_string(file).unwrap();
        }
        assert!(Instant::now() < deadline, "no .eml in {}", mails.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(eml.contains("frank@example.com"), "{eml}");
    assert!(eml.contains("Subject: Confirm your email address"), "{eml}");
}
