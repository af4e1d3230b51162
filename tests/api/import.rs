//! Bring your users: hashes made by independent tools (Python's bcrypt, passlib,
//! argon2-cffi) imported with `authd users import`, each logging in with its own
//! password and leaving an argon2id hash behind; bad lines reported by number
//! without stopping the rest; a re-run imports nothing twice; the admin API's bulk
//! endpoint does the same and says who.

use std::process::Stdio;

use authd::config::StoreConfig;
use serde_json::Value;

use crate::both_stores;
use crate::helpers::{child_command, problem, pytool, Backend, TestApp};

both_stores!(imported_hashes_of_every_format_log_in_and_become_argon2id);

const BIN: &str = env!("CARGO_BIN_EXE_authd");

/// (username, password, hash) made by the Python libraries, one per format.
const FIXTURES: &str = r#"
import bcrypt, json, passlib.hash as h
from argon2 import PasswordHasher, low_level
def bc(pw, prefix): return bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4, prefix=prefix)).decode()
rows = [
  ("bc2a", "password bc2a", bc("password bc2a", b"2a")),
  ("bc2b", "password bc2b", bc("password bc2b", b"2b")),
  # PHP's $2y$ is bcrypt's $2b$ under another name (passlib's bcrypt handler
  # breaks with bcrypt >= 4.1, so the prefix is set here, as PHP writes it).
  ("bc2y", "password bc2y", "$2y$" + bc("password bc2y", b"2b")[4:]),
  ("scr", "password scr", h.scrypt.using(rounds=10).hash("password scr")),
  ("pbk", "password pbk", h.pbkdf2_sha256.using(rounds=1000).hash("password pbk")),
  ("django", "password django", h.django_pbkdf2_sha256.using(rounds=1000).hash("password django")),
  ("a2id", "password a2id", PasswordHasher(time_cost=1, memory_cost=8192, parallelism=2).hash("password a2id")),
  ("a2i", "password a2i", low_level.hash_secret(b"password a2i", b"somesaltsomesalt", time_cost=2,
        memory_cost=4096, parallelism=1, hash_len=32, type=low_level.Type.I).decode()),
]
for name, pw, hashed in rows:
    print(json.dumps({"username": name, "password": pw, "hash": hashed}))
"#;

fn fixtures() -> Vec<(String, String, String)> {
    let out = child_command(pytool("python", "bcrypt, passlib and argon2-cffi"))
        .args(["-c", FIXTURES])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            (s("username"), s("password"), s("hash"))
        })
        .collect()
}

/// The import file: a line per fixture, then bad lines at known numbers.
fn import_file(rows: &[(String, String, String)]) -> (String, Vec<usize>) {
    let mut lines: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, (name, _, hash))| {
            serde_json::json!({
                "username": name, "email": format!("{name}@example.com"),
                "email_verified": i % 2 == 0, "created_at": "2021-03-04T05:06:07Z",
                "password_hash": hash,
            })
            .to_string()
        })
        .collect();
    let bad = [
        r#"{"username":"nohash","email":"nohash@example.com"}"#.to_string(),
        r#"{"username":"md5","email":"md5@example.com","password_hash":"$1$abc$def"}"#.to_string(),
        r#"{"username":"x","email":"not-an-email","password_hash":"$2b$04$abc"}"#.to_string(),
        "this is not json".to_string(),
        // The username of an imported user, under another id.
        format!(
            r#"{{"username":"bc2a","email":"other@example.com","password_hash":{}}}"#,
            serde_json::to_string(&rows[0].2).unwrap()
        ),
    ];
    let mut bad_lines = Vec::new();
    for line in bad {
        lines.push(line);
        bad_lines.push(lines.len());
    }
    lines.insert(3, String::new()); // a blank line is skipped, and numbered
    let bad_lines = bad_lines.into_iter().map(|n| n + 1).collect();
    (lines.join("\n"), bad_lines)
}

fn cli_import(app: &TestApp, file: &std::path::Path) -> (Value, String, bool) {
    let mut cmd = child_command(BIN);
    match &app.store_config {
        StoreConfig::Postgres { url } => cmd.env("DATABASE_URL", url),
        StoreConfig::Sqlite { path } => cmd.env("AUTHD_DATA_DIR", path.parent().unwrap()),
    };
    let out = cmd
        .args(["users", "import"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("run authd users import");
    let summary = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (
        summary,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

async fn imported_hashes_of_every_format_log_in_and_become_argon2id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rows = fixtures();
    let (text, bad_lines) = import_file(&rows);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(&file, &text).unwrap();

    let (summary, stderr, ok) = cli_import(&app, &file);
    assert!(!ok, "refused lines make the exit status 1");
    assert_eq!(summary["imported"], rows.len(), "{stderr}");
    assert_eq!(summary["skipped"], 0);
    assert_eq!(summary["refused"], bad_lines.len());
    let reported: Vec<usize> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("line ")?.split(':').next()?.parse().ok())
        .collect();
    assert_eq!(reported, bad_lines, "{stderr}");
    assert!(stderr.contains("another user"), "{stderr}");
    assert_eq!(app.users().await, rows.len() as i64);
    let events = app
        .scalar("SELECT COUNT(*) FROM outbox WHERE event_type = 'authd.user.imported'")
        .await;
    assert_eq!(
        events,
        rows.len() as i64,
        "one authd.user.imported per user"
    );

    // Every format logs in with its own password (and only with it); then the
    // stored hash is argon2id with the configured parameters.
    for (name, password, original) in &rows {
        problem(app.login(name, "not the password").await, 401).await;
        let tokens = app.login(name, password).await;
        assert_eq!(tokens.status().as_u16(), 200, "{name}: {original}");
        let stored = app
            .text("SELECT password_hash FROM users WHERE username = $1", name)
            .await
            .unwrap();
        assert!(stored.starts_with("$argon2id$v=19$"), "{name}: {stored}");
        assert_ne!(&stored, original);
        assert_eq!(app.login(name, password).await.status().as_u16(), 200);
    }

    // A re-run imports nothing twice.
    let (again, _, _) = cli_import(&app, &file);
    assert_eq!(again["imported"], 0);
    assert_eq!(again["skipped"], rows.len());
    assert_eq!(again["refused"], bad_lines.len());
    assert_eq!(app.users().await, rows.len() as i64);
}
