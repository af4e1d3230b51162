//! Attack 6: secrets readable by other users of the host. The SQLite directory was
//! 0755 and its files, like the development .eml files (live reset tokens), 0644.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use authd::authn::Verification;
use authd::config::StoreConfig;
use authd::mail::Delivery;

use crate::helpers::{Backend, TestApp};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_authd_writes_is_for_its_own_user_only() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    // An earlier version's files: a directory and a database others could read.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = data.join("authd.sqlite3");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mail = data.join("mail");
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.store = StoreConfig::Sqlite { path: db.clone() };
        c.mail.delivery = Delivery::Files { dir: mail.clone() };
        c.mail.verification = Verification::Optional;
        c.tokens.secrets = authd::tokens::SecretsSource::Generated(data.join("secrets.key"));
    })
    .await;
    app.create_user("reader").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let eml = loop {
        let found = std::fs::read_dir(&mail).ok().and_then(|dir| {
            dir.filter_map(Result::ok)
                .find(|e| e.path().extension().is_some_and(|x| x == "eml"))
        });
        if let Some(found) = found {
            break found.path();
        }
        assert!(Instant::now() < deadline, "no mail written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&mail), 0o700, "the mail directory");
    assert_eq!(mode(&eml), 0o600, "a mail with a live token");
    assert_eq!(mode(&data.join("secrets.key")), 0o600, "the secrets key");
    for file in ["authd.sqlite3", "authd.sqlite3-wal", "authd.sqlite3-shm"] {
        let path = data.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    assert_eq!(mode(&db), 0o600, "the database made by the earlier version");
}
