//! The SMTP server the mail tests read from: aiosmtpd (PyPI) in scripts/test's
//! venv, one per test, and the token a mailed link carries. It refuses for good
//! (550) every recipient whose address starts with `bounce`, as a mail server
//! refuses a mailbox that does not exist.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{child_command, free_port, pytool, stop_child};

/// An SMTP server that appends each mail it accepts, parsed by Python's email
/// package, as a JSON line {to, from, subject, text, html}.
const SERVER: &str = r#"
import email, json, sys, threading
from email import policy
from aiosmtpd.controller import Controller
port, out = int(sys.argv[1]), sys.argv[2]
class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bounce"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"
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
    /// A server on a free port (another one if that one was taken first).
    pub fn start() -> SmtpServer {
        for _ in 0..5 {
            let mut server = SmtpServer::stopped(free_port());
            if server.try_listen() {
                return server;
            }
        }
        panic!("aiosmtpd did not start on any of 5 free ports");
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

    /// Starts the server on its port (panics if it cannot).
    pub fn listen(&mut self) {
        assert!(self.try_listen(), "aiosmtpd did not start on {}", self.port);
    }

    /// Starts the server on its port; false if it could not bind it.
    fn try_listen(&mut self) -> bool {
        let mut child = child_command(pytool("python", "aiosmtpd"))
            .args(["-c", SERVER, &self.port.to_string()])
            .arg(&self.out)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        // "ready" once it has bound the port; nothing (it exits) if it could not.
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        if line.trim() != "ready" {
            stop_child(&mut child, "KILL");
            return false;
        }
        self.child = Some(child);
        true
    }

    /// The file of received mails, one JSON object a line.
    pub fn log(&self) -> &std::path::Path {
        &self.out
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
