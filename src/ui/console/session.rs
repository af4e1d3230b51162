//! The console's sign-in: an admin token, checked once, becomes a cookie of
//! `name.expiry.mac` (HMAC-SHA256 under a key derived from that admin's token:
//! a new token ends its sessions). The token itself is never stored.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::authn::totp::constant_time_eq;
use crate::config::AdminCredentials;

/// How long a console sign-in lasts.
pub const SESSION_SECS: i64 = 8 * 3600;

fn mac(key: &[u8; 32], payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(payload.as_bytes());
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The cookie value of a console session of `name` from `now`.
pub fn issue(credentials: &AdminCredentials, name: &str, now: DateTime<Utc>) -> Option<String> {
    let key = credentials.session_key(name)?;
    let payload = format!("{name}.{}", now.timestamp() + SESSION_SECS);
    Some(format!("{payload}.{}", mac(&key, &payload)))
}

/// The admin a cookie value names, if its mac holds and it has not expired.
pub fn check(credentials: &AdminCredentials, value: &str, now: DateTime<Utc>) -> Option<String> {
    let (payload, given) = value.rsplit_once('.')?;
    let (name, expiry) = payload.rsplit_once('.')?;
    let key = credentials.session_key(name)?;
    if !constant_time_eq(mac(&key, payload).as_bytes(), given.as_bytes()) {
        return None;
    }
    let expiry: i64 = expiry.parse().ok()?;
    (now.timestamp() < expiry).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn a_session_names_its_admin_until_it_expires_or_the_token_changes() {
        let creds = AdminCredentials::parse(&format!("alice:{A}\nbob:{B}\n")).unwrap();
        let now = DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let cookie = issue(&creds, "alice", now).unwrap();
        assert_eq!(check(&creds, &cookie, now).as_deref(), Some("alice"));
        let later = now + chrono::Duration::seconds(SESSION_SECS + 1);
        assert_eq!(check(&creds, &cookie, later), None);
        // Another name or expiry under the same mac fails.
        let forged = cookie.replacen("alice", "bob", 1);
        assert_eq!(check(&creds, &forged, now), None);
        let (payload, mac) = cookie.rsplit_once('.').unwrap();
        let (name, expiry) = payload.rsplit_once('.').unwrap();
        let longer = format!("{name}.{}.{mac}", expiry.parse::<i64>().unwrap() + 3600);
        assert_eq!(check(&creds, &longer, now), None);
        // A new token for alice ends the session.
        let rotated = AdminCredentials::parse(&format!("alice:{B}\n")).unwrap();
        assert_eq!(check(&rotated, &cookie, now), None);
        assert_eq!(check(&creds, "garbage", now), None);
    }
}
