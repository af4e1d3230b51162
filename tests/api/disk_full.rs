//! The SQLite store's disk fills up: sign-ups get a clear 503 (never a 500, never a
//! half-written user), every 201 has its row and its event, and once there is room
//! again sign-ups go on and the database is intact. A real full disk: a 4 MiB
//! tmpfs mounted for the test (the suite runs as root; a failed mount fails).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use authd::config::StoreConfig;
use serde_json::Value;

use crate::helpers::{problem, sign_up_body, Backend, TestApp};

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs (this test needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk with one file until it has no room left.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).and_then(|()| file.flush()).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_clear_503_and_nothing_is_half_written() {
    let disk = SmallDisk::mount("4m");
    let path = disk.path().join("authd.sqlite3");
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.store = StoreConfig::Sqlite { path: path.clone() };
    })
    .await;
    app.create_user("before").await;
    let filler = disk.fill();

    let (mut created, mut full) = (Vec::new(), 0);
    for i in 0..300 {
        let response = app
            .post_json("/auth/user", &sign_up_body(&format!("full{i}")))
            .await;
        match response.status().as_u16() {
            201 => created.push(response.json::<Value>().await.unwrap()["id"].to_string()),
            503 => {
                assert!(response.headers().contains_key("retry-after"));
                let body = problem(response, 503).await;
                assert_eq!(body["type"], "urn:authd:problem:storage-full", "{body}");
                full += 1;
                if full >= 5 {
                    break;
                }
            }
            status => panic!(
                "sign-up {i} on a full disk: {status} {}",
                response.text().await.unwrap()
            ),
        }
    }
    assert!(
        full >= 5,
        "the disk never filled: {} sign-ups written",
        created.len()
    );
    // What was answered 201 is there, with its event; what was refused is not.
    assert_eq!(app.users().await, 1 + created.len() as i64);
    assert_eq!(
        app.outbox().await,
        1 + created.len() as i64,
        "one event per user"
    );

    std::fs::remove_file(filler).unwrap();
    let after = app.post_json("/auth/user", &sign_up_body("after")).await;
    assert_eq!(after.status().as_u16(), 201, "room again: sign-ups go on");
    assert_eq!(app.users().await, 2 + created.len() as i64);
    assert_eq!(app.outbox().await, app.users().await);
    assert_eq!(
        app.text("PRAGMA integrity_check", "").await.as_deref(),
        Some("ok")
    );
}
