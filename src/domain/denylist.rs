//! Breached and common passwords, refused at sign-up, password change and when an
//! admin sets one: a local list, never a call out. The built-in list holds common
//! passwords; `AUTHD_PASSWORD_DENYLIST=FILE` replaces it with a file of plain
//! passwords or of SHA-1 hashes in the Have I Been Pwned download format
//! (`HEX40` or `HEX40:COUNT` per line), or a mix; `off` turns the check off.

use std::collections::HashSet;

use sha1::{Digest, Sha1};

use super::Password;

const BUILT_IN: &str = include_str!("common_passwords.txt");

/// SHA-1 digests of refused passwords (plain entries are lower-cased first, and
/// so are the passwords checked against them).
#[derive(Clone, Default)]
pub struct Denylist {
    plain: HashSet<[u8; 20]>,
    exact: HashSet<[u8; 20]>,
    /// The built-in list's entries, which the OpenAPI document states (a list from
    /// a file may hold millions of hashes: the document only names the setting).
    stated: Vec<String>,
}

impl std::fmt::Debug for Denylist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Denylist({} entries)", self.len())
    }
}

impl Denylist {
    /// The built-in list of common passwords.
    pub fn built_in() -> Denylist {
        let mut list = Denylist::parse(BUILT_IN);
        list.stated = entries(BUILT_IN).map(str::to_lowercase).collect();
        list
    }

    /// The passwords the list refuses, when it can say them (the built-in list),
    /// lower-cased: a password is refused whatever its case.
    pub fn stated(&self) -> Option<&[String]> {
        (!self.stated.is_empty()).then_some(&self.stated[..])
    }

    /// One entry per line: 40 hex digits (optionally `:count`) are the SHA-1 of a
    /// breached password, compared exactly; anything else is a plain password,
    /// compared without regard to case. Blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Denylist {
        let mut list = Denylist::default();
        for line in entries(text) {
            let hex = line.split(':').next().unwrap_or("");
            match decode_hex(hex) {
                Some(digest) if hex.len() == 40 => {
                    list.exact.insert(digest);
                }
                _ => {
                    list.plain.insert(sha1(&line.to_lowercase()));
                }
            }
        }
        list
    }

    pub fn len(&self) -> usize {
        self.plain.len() + self.exact.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `password`, unless the list holds it (then the reason, for a field error).
    pub fn check(&self, password: Password) -> Result<Password, String> {
        let exposed = password.expose();
        if self.exact.contains(&sha1(exposed))
            || self.plain.contains(&sha1(&exposed.to_lowercase()))
        {
            return Err("is a known breached or common password: choose another".into());
        }
        Ok(password)
    }
}

/// The entries of a list: its lines but blank ones and `#` comments.
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
}

fn sha1(s: &str) -> [u8; 20] {
    Sha1::digest(s.as_bytes()).into()
}

fn decode_hex(s: &str) -> Option<[u8; 20]> {
    if s.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse(s.into()).unwrap()
    }

    #[test]
    fn the_built_in_list_refuses_common_passwords_in_any_case() {
        let list = Denylist::built_in();
        assert!(list.len() > 50);
        assert!(list.check(pw("Password123")).is_err());
        assert!(list.check(pw("QWERTYUIOP")).is_err());
        assert!(list.check(pw("correct horse battery")).is_ok());
    }

    #[test]
    fn pwned_sha1_lines_match_exactly_and_plain_lines_by_case() {
        // SHA-1("P@ssword!") in the HIBP download format, and a plain entry.
        let hash = hex(&sha1("P@ssword!"));
        let list = Denylist::parse(&format!("{hash}:12345\nHunter2Hunter2\n\n# note\n"));
        assert_eq!(list.len(), 2);
        assert!(list.check(pw("P@ssword!")).is_err());
        assert!(list.check(pw("p@ssword!")).is_ok(), "a hash is exact");
        assert!(
            list.check(pw("hunter2hunter2")).is_err(),
            "a plain entry ignores case"
        );
    }

    fn hex(d: &[u8; 20]) -> String {
        d.iter().map(|b| format!("{b:02X}")).collect()
    }
}
