//! What authd revoked, as heard on its Kafka topic: ended sessions (by `sid`) and,
//! per user, the instant before which its tokens are void (`not_before`: a password
//! change, a lock, a delete). Entries older than `remember` are dropped: no access
//! token outlives its expiry, so none can need them.

use std::collections::HashMap;
use std::sync::RwLock;

use serde_json::Value;
use uuid::Uuid;

use crate::jws::Claims;

/// The types that void every token of a user issued before the event.
const USER_WIDE: [&str; 4] = [
    "authd.user.password_changed",
    "authd.user.password_reset",
    "authd.user.locked",
    "authd.user.deleted",
];

#[derive(Default)]
pub struct Revocations {
    /// Session id -> when it was revoked (Unix seconds).
    sessions: RwLock<HashMap<Uuid, i64>>,
    /// User id -> tokens issued before this (Unix seconds) are void.
    users: RwLock<HashMap<Uuid, i64>>,
}

impl Revocations {
    /// Takes in one authd event (its CloudEvents JSON); others are ignored.
    pub fn apply(&self, event: &Value) {
        let Some(kind) = event["type"].as_str() else {
            return;
        };
        let time = event["time"]
            .as_str()
            .and_then(unix_seconds)
            .unwrap_or_else(now);
        if kind == "authd.session.revoked" {
            if let Some(sid) = event["data"]["session_id"]
                .as_str()
                .and_then(|s| s.parse().ok())
            {
                self.sessions.write().expect("lock").insert(sid, time);
            }
        } else if USER_WIDE.contains(&kind) {
            if let Some(user) = event["subject"].as_str().and_then(|s| s.parse().ok()) {
                let mut users = self.users.write().expect("lock");
                let entry = users.entry(user).or_insert(time);
                *entry = (*entry).max(time);
            }
        }
    }

    /// Whether the token's session ended, or its user voided tokens issued before
    /// it (authd floors that instant to the second, as `iat` is).
    pub fn revoked(&self, claims: &Claims) -> bool {
        if let Some(sid) = claims.sid {
            if self.sessions.read().expect("lock").contains_key(&sid) {
                return true;
            }
        }
        self.users
            .read()
            .expect("lock")
            .get(&claims.sub)
            .is_some_and(|not_before| claims.iat < *not_before)
    }

    /// Forgets what was revoked before `cutoff` (Unix seconds).
    pub fn forget_before(&self, cutoff: i64) {
        self.sessions
            .write()
            .expect("lock")
            .retain(|_, at| *at >= cutoff);
        self.users
            .write()
            .expect("lock")
            .retain(|_, at| *at >= cutoff);
    }

    /// How many sessions and users it holds.
    pub fn len(&self) -> (usize, usize) {
        (
            self.sessions.read().expect("lock").len(),
            self.users.read().expect("lock").len(),
        )
    }
}

/// Unix seconds of an RFC 3339 UTC time (`2026-11-26T10:00:00.123456Z`), floored.
fn unix_seconds(time: &str) -> Option<i64> {
    let (date, rest) = time.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let clock = rest.strip_suffix('Z')?;
    let mut t = clock.splitn(3, ':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let s = t.next()?.split('.').next()?.parse::<i64>().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3_600 + min * 60 + s)
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jws::Audience;
    use serde_json::json;

    fn claims(sub: Uuid, sid: Uuid, iat: i64) -> Claims {
        Claims {
            iss: "authd".into(),
            sub,
            aud: Audience::One("authd".into()),
            iat,
            exp: iat + 900,
            jti: Uuid::new_v4(),
            nbf: None,
            email_verified: None,
            sid: Some(sid),
            auth_time: None,
            amr: None,
            acr: None,
        }
    }

    #[test]
    fn rfc3339_times_are_read_as_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            unix_seconds("2026-11-26T10:00:00.999999Z"),
            Some(1_795_687_200)
        );
        assert_eq!(unix_seconds("2000-02-29T12:30:05Z"), Some(951_827_405));
        assert_eq!(unix_seconds("yesterday"), None);
    }

    #[test]
    fn a_revoked_session_refuses_only_its_own_tokens() {
        let r = Revocations::default();
        let (user, ended, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        r.apply(&json!({
            "type": "authd.session.revoked", "subject": user, "time": "2026-11-26T10:00:00Z",
            "data": { "session_id": ended, "user_id": user, "reason": "logout" }
        }));
        assert!(r.revoked(&claims(user, ended, 1_795_687_100)));
        assert!(!r.revoked(&claims(user, other, 1_795_687_100)));
    }

    #[test]
    fn a_password_change_voids_older_tokens_of_the_user_only() {
        let r = Revocations::default();
        let (user, sid) = (Uuid::now_v7(), Uuid::now_v7());
        r.apply(
            &json!({ "type": "authd.user.password_changed", "subject": user,
                         "time": "2026-11-26T10:00:00.500Z", "data": {} }),
        );
        let t = 1_795_687_200;
        assert!(r.revoked(&claims(user, sid, t - 1)));
        assert!(
            !r.revoked(&claims(user, sid, t)),
            "the same second is authd's call"
        );
        assert!(!r.revoked(&claims(Uuid::now_v7(), sid, t - 1)));
        // Other events change nothing.
        r.apply(&json!({ "type": "authd.user.updated", "subject": Uuid::now_v7(), "time": "2030-01-01T00:00:00Z" }));
        assert_eq!(r.len(), (0, 1));
        r.forget_before(t + 1);
        assert_eq!(r.len(), (0, 0));
    }
}
