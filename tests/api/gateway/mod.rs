//! Through nginx, configured from nginx/ exactly as scripts/stack does it, in front
//! of real authd processes (so that one can be SIGKILLed).
//!
//! One scenario a file: routing.rs, failover.rs, login.rs and posts.rs (a POST is
//! never sent twice); the nginx they all start is here.

mod failover;
mod login;
mod posts;
mod routing;

use std::path::Path;
use std::process::{Child, Stdio};

use crate::helpers::{child_command, free_port, stop_child, wait_listening, Replica};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const NGINX_HINT: &str = "nginx must be on PATH: run scripts/test, or apt-get install nginx";

/// nginx with the repository's configuration, rendered by scripts/lib/services.sh.
struct Gateway {
    child: Child,
    port: u16,
}

impl Gateway {
    /// nginx on a free port, and on another one if that one was taken first.
    fn start(replicas: &[&Replica], dir: &Path) -> Gateway {
        let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
        Self::start_ports(&ports, dir)
    }

    /// nginx in front of whatever listens on `ports` of 127.0.0.1.
    fn start_ports(ports: &[u16], dir: &Path) -> Gateway {
        let mut why = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut child = spawn(ports, dir, port);
            match wait_listening(port, &mut child, "nginx") {
                Ok(()) => return Gateway { child, port },
                Err(reason) => {
                    stop_child(&mut child, "TERM");
                    why = reason;
                }
            }
        }
        let errors = std::fs::read_to_string(dir.join("nginx.err")).unwrap_or_default();
        panic!("{why}:\n{errors}");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// nginx rendered for the upstreams on `ports` on `port`, started (not yet listening).
fn spawn(ports: &[u16], dir: &Path, port: u16) -> Child {
    let servers: String = ports
        .iter()
        .map(|p| format!("server 127.0.0.1:{p} max_fails=1 fail_timeout=5s; "))
        .collect();
    let conf = dir.join("nginx");
    let status = child_command("bash")
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
    child_command("nginx")
        .arg("-p")
        .arg(&conf)
        .arg("-c")
        .arg(conf.join("nginx.conf"))
        .args(["-g", &globals])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("nginx.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("nginx.err")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start nginx ({e}). {NGINX_HINT}"))
}

impl Drop for Gateway {
    /// SIGTERM, not SIGKILL: a killed master would leave its workers behind.
    fn drop(&mut self) {
        stop_child(&mut self.child, "TERM");
    }
}
