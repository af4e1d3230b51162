//! Users a team brings with them (`authd users import FILE`, `POST
//! /admin/users/import`): JSON lines of `{id?, username, email, email_verified?,
//! created_at?, password_hash}`, each checked on its own. A bad line is reported
//! with its number and the others go on. Nothing is hashed: the hashes (bcrypt,
//! scrypt, PBKDF2-SHA256, argon2) are kept as they are, verified at login and
//! rehashed to argon2id then.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::{Email, Username};
use crate::hashing::ImportedFormat;
use crate::store::{ImportOutcome, ImportRow, Store};

/// What one line of an import said, or why it was refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: Option<Value>,
    username: Option<Value>,
    email: Option<Value>,
    email_verified: Option<Value>,
    created_at: Option<Value>,
    password_hash: Option<Value>,
}

/// A line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refused {
    pub line: usize,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub imported: usize,
    /// Already there (the same id, or the same username and email): a re-run
    /// imports nothing twice.
    pub skipped: usize,
    pub refused: Vec<Refused>,
}

/// Parses line `number` (1-based) of an import.
pub fn parse_line(number: usize, text: &str, now: DateTime<Utc>) -> Result<ImportRow, String> {
    let line: Line = serde_json::from_str(text)
        .map_err(|e| format!("not a JSON object of the import format: {e}"))?;
    let mut problems = Vec::new();
    let string = |name: &str, v: Option<Value>, problems: &mut Vec<String>| match v {
        Some(Value::String(s)) => Some(s),
        None | Some(Value::Null) => None,
        Some(_) => {
            problems.push(format!("{name}: must be a string"));
            None
        }
    };
    let id = match string("id", line.id, &mut problems).map(|s| Uuid::parse_str(&s)) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            problems.push("id: must be a UUID".into());
            None
        }
    };
    let username = match string("username", line.username, &mut problems) {
        Some(s) => Username::parse(&s)
            .map_err(|e| problems.push(format!("username: {e}")))
            .ok(),
        None => {
            problems.push("username: is required".into());
            None
        }
    };
    let email = match string("email", line.email, &mut problems) {
        Some(s) => Email::parse(&s)
            .map_err(|e| problems.push(format!("email: {e}")))
            .ok(),
        None => {
            problems.push("email: is required".into());
            None
        }
    };
    let verified = match line.email_verified {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            problems.push("email_verified: must be true or false".into());
            false
        }
    };
    let created_at = match string("created_at", line.created_at, &mut problems)
        .map(|s| DateTime::parse_from_rfc3339(&s))
    {
        None => None,
        Some(Ok(t)) => Some(t.with_timezone(&Utc)),
        Some(Err(_)) => {
            problems.push("created_at: must be an RFC 3339 time".into());
            None
        }
    };
    let hash = match string("password_hash", line.password_hash, &mut problems) {
        Some(h) => match ImportedFormat::check(&h) {
            Ok(_) => Some(h),
            Err(why) => {
                problems.push(format!("password_hash: {why}"));
                None
            }
        },
        None => {
            problems.push("password_hash: is required".into());
            None
        }
    };
    match (username, email, hash) {
        (Some(username), Some(email), Some(password_hash)) if problems.is_empty() => {
            let created_at = created_at.unwrap_or(now);
            Ok(ImportRow {
                line: number,
                // Sign-up order for the admin API's cursor: a v7 id from created_at.
                id: id.unwrap_or_else(|| v7_at(created_at)),
                username,
                email,
                email_verified_at: verified.then_some(created_at),
                created_at,
                password_hash,
            })
        }
        _ => Err(problems.join("; ")),
    }
}

/// A UUIDv7 whose time is `at`.
fn v7_at(at: DateTime<Utc>) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        at.timestamp().max(0) as u64,
        at.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(ts)
}

/// Imports `text` (JSON lines; blank lines are skipped) in batches of `batch`
/// rows, each batch one transaction; `actor` names who did it in the events.
pub async fn import(
    store: &Store,
    text: &str,
    batch: usize,
    actor: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut rows = Vec::with_capacity(batch);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(i + 1, line, now) {
            Ok(row) => rows.push(row),
            Err(reason) => report.refused.push(Refused {
                line: i + 1,
                reason,
            }),
        }
        if rows.len() >= batch {
            apply(store, std::mem::take(&mut rows), actor, now, &mut report).await?;
        }
    }
    apply(store, rows, actor, now, &mut report).await?;
    report.refused.sort_by_key(|r| r.line);
    Ok(report)
}

async fn apply(
    store: &Store,
    rows: Vec<ImportRow>,
    actor: Option<&str>,
    now: DateTime<Utc>,
    report: &mut Report,
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    for (line, outcome) in store.import_users(&rows, actor, now).await? {
        match outcome {
            ImportOutcome::Imported => report.imported += 1,
            ImportOutcome::Skipped => report.skipped += 1,
            ImportOutcome::Taken => report.refused.push(Refused {
                line,
                reason: "the username or email belongs to another user".into(),
            }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BCRYPT: &str = "$2b$04$abcdefghijklmnopqrstuu5ZDVm6r8ayGgA7CPqRE5K5SBv3mYQ7a";

    #[test]
    fn a_line_reports_every_problem_at_once() {
        let now = DateTime::UNIX_EPOCH;
        let err = parse_line(
            3,
            r#"{"id":"x","username":"a","email":"nope","email_verified":"yes","password_hash":"plain"}"#,
            now,
        )
        .unwrap_err();
        for field in [
            "id:",
            "username:",
            "email:",
            "email_verified:",
            "password_hash:",
        ] {
            assert!(err.contains(field), "{err}");
        }
        assert!(parse_line(1, r#"{"username":"a","extra":1}"#, now).is_err());
        assert!(parse_line(1, "not json", now).is_err());
    }

    #[test]
    fn a_good_line_keeps_its_values_and_gets_a_time_ordered_id() {
        let now = DateTime::UNIX_EPOCH;
        let row = parse_line(
            7,
            &format!(
                r#"{{"username":"Bob","email":"Bob@Example.com","email_verified":true,"created_at":"2020-05-01T10:00:00Z","password_hash":"{BCRYPT}"}}"#
            ),
            now,
        )
        .unwrap();
        assert_eq!(
            (row.line, row.username.as_str(), row.email.as_str()),
            (7, "bob", "bob@example.com")
        );
        assert_eq!(row.email_verified_at, Some(row.created_at));
        assert_eq!(row.id.get_version_num(), 7);
        let (secs, _) = row.id.get_timestamp().unwrap().to_unix();
        assert_eq!(secs as i64, row.created_at.timestamp());
    }
}
