//! The admin API's credentials: named static bearer tokens read from a secret file
//! at start. Only their SHA-256 is kept; a presented token is compared digest to
//! digest in constant time. Neither the file's tokens nor a presented one is ever
//! logged: the name is what events and logs show (`admin:<name>`).

use sha2::{Digest, Sha256};

/// The shortest token accepted: 32 characters (e.g. `openssl rand -hex 32` gives 64).
pub const MIN_TOKEN_LEN: usize = 32;

#[derive(Clone)]
pub struct AdminCredentials {
    admins: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.admins.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("AdminCredentials")
            .field("names", &names)
            .finish()
    }
}

impl AdminCredentials {
    /// One `name:token` per line; blank lines and `#` comments are skipped. Names
    /// are 1 to 64 of `a-z A-Z 0-9 . _ -`; tokens 32 to 1024 printable ASCII
    /// characters. Errors name the line, never its token.
    pub fn parse(text: &str) -> Result<AdminCredentials, String> {
        let mut admins: Vec<(String, [u8; 32])> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = i + 1;
            let (name, token) = line
                .split_once(':')
                .ok_or_else(|| format!("line {at}: expected name:token"))?;
            let name_ok = (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !name_ok {
                return Err(format!("line {at}: a name is 1 to 64 of a-z A-Z 0-9 . _ -"));
            }
            if !(MIN_TOKEN_LEN..=1024).contains(&token.len())
                || !token.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(format!(
                    "line {at}: the token of {name} must be {MIN_TOKEN_LEN} to 1024 printable ASCII characters"
                ));
            }
            if admins.iter().any(|(n, _)| n == name) {
                return Err(format!("line {at}: {name} appears twice"));
            }
            admins.push((name.to_string(), digest(token)));
        }
        if admins.is_empty() {
            return Err("no name:token line".into());
        }
        Ok(AdminCredentials { admins })
    }

    /// The name of the admin whose token this is.
    pub fn verify(&self, token: &str) -> Option<&str> {
        let presented = digest(token);
        // Every entry is compared in full, whatever matched: no early exit.
        let mut found = None;
        for (name, expected) in &self.admins {
            let diff = presented
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(name.as_str());
            }
        }
        found
    }
}

impl AdminCredentials {
    /// The key of `name`'s console sessions: derived from its token, so a new
    /// token (or the name's removal) ends them.
    pub fn session_key(&self, name: &str) -> Option<[u8; 32]> {
        let (_, token_digest) = self.admins.iter().find(|(n, _)| n == name)?;
        let mut hasher = Sha256::new();
        hasher.update(b"authd admin console session\0");
        hasher.update(token_digest);
        Some(hasher.finalize().into())
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn names_come_from_their_own_tokens_only() {
        let creds = AdminCredentials::parse(&format!("# ops\n\nalice:{A}\nbob:{B}\n")).unwrap();
        assert_eq!(creds.verify(A), Some("alice"));
        assert_eq!(creds.verify(B), Some("bob"));
        assert_eq!(creds.verify(&A[..31]), None);
        assert_eq!(creds.verify(""), None);
        assert_eq!(creds.verify(&format!("{A} ")), None);
    }

    #[test]
    fn bad_files_are_refused_without_echoing_tokens() {
        for (text, why) in [
            ("", "no name:token line"),
            ("alice", "line 1: expected name:token"),
            ("alice:short", "line 1: the token of alice must be"),
            (&format!("a b:{A}"), "line 1: a name is"),
            (
                &format!("alice:{A}\nalice:{B}"),
                "line 2: alice appears twice",
            ),
        ] {
            let err = AdminCredentials::parse(text).unwrap_err();
            assert!(err.starts_with(why), "{text}: {err}");
            assert!(!err.contains(A) && !err.contains(B) && !err.contains("short"));
        }
    }

    #[test]
    fn debug_shows_names_not_digests() {
        let creds = AdminCredentials::parse(&format!("alice:{A}")).unwrap();
        assert_eq!(
            format!("{creds:?}"),
            r#"AdminCredentials { names: ["alice"] }"#
        );
    }
}
