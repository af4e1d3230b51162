//! Through nginx, configured from nginx/ exactly as scripts/stack does it, in front
//! of real authd processes (so that one can be SIGKILLed).
//!
//! One scenario a file: routing.rs, failover.rs and login.rs; the nginx they all
//! start is here.

mod failover;
mod login;
mod routing;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::helpers::{free_port, stop_child, wait_port, Replica};

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
