//! Every test shares this binary, the host's ports and the runner's environment:
//! what keeps each test to its own servers and settings.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use sqlx::Connection;

use crate::helpers::{child_command, pytool, wait_listening};
use crate::pg::PgServer;

/// Every Postgres of the suite trusts any local connection: one whose port is
/// answered by another test's server moves to a new port instead of using it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_whose_port_another_server_answers_moves_to_a_new_port() {
    let other = PgServer::start().await;
    let own = PgServer::start_trying(Some(other.port())).await;
    assert_ne!(own.port(), other.port());
    let mut conn = sqlx::PgConnection::connect(&own.url).await.unwrap();
    let name: String = sqlx::query_scalar("SHOW cluster_name")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(name, own.name());
    assert_ne!(own.name(), other.name());
}

/// A port another process listens on is not a child's: waiting for the child to
/// listen there ends in an error (it exits), not in a connection to the other.
#[test]
fn a_listener_of_another_process_is_not_the_childs() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut idle = child_command("sleep").arg("1").spawn().unwrap();
    assert!(wait_listening(port, &mut idle, "sleep").is_err());

    let listen = "import socket, time\n\
                  s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                  print(s.getsockname()[1], flush=True); time.sleep(30)";
    let mut server = child_command(pytool("python", "python"))
        .args(["-c", listen])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let own: u16 = line.trim().parse().unwrap();
    let waited = wait_listening(own, &mut server, "python");
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(waited, Ok(()));
}

/// Set in the environment of the copy of this binary the next test starts.
const PROBE: &str = "AUTHD_ISOLATION_PROBE";

/// The runner's AUTHD_* settings reach no child: this binary runs itself (only
/// the check below) with one set, and that copy's children must not see it.
#[test]
fn children_see_none_of_the_runners_authd_settings() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "isolation::a_child_command_drops_the_probe",
            "--nocapture",
        ])
        .env(PROBE, "leaked")
        .env("DATABASE_URL", "postgres://leaked")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("1 passed"), "{report}");
    assert!(report.contains("probe checked"), "{report}");
}

/// Run by the test above, in a copy of this binary whose environment has the
/// probe; in the suite's own run (no probe) it has nothing to check.
#[test]
fn a_child_command_drops_the_probe() {
    if std::env::var_os(PROBE).is_none() {
        return;
    }
    let out = child_command("env").output().unwrap();
    let env = String::from_utf8(out.stdout).unwrap();
    assert!(
        !env.lines()
            .any(|l| l.starts_with("AUTHD_") || l.starts_with("DATABASE_URL=")),
        "{env}"
    );
    println!("probe checked");
}
