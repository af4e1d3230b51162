//! Password hashes brought by an import, in the formats teams have: bcrypt
//! (`$2a$`, `$2b$`, `$2y$`), scrypt (passlib's `$scrypt$ln=,r=,p=$salt$hash`),
//! PBKDF2-SHA256 (passlib's `$pbkdf2-sha256$rounds$salt$hash` and Django's
//! `pbkdf2_sha256$rounds$salt$hash`). argon2i/argon2d/argon2id PHC strings with any
//! parameters go through `argon2::verify_phc`. Login verifies them and then stores
//! an argon2id hash with the configured parameters (the rehash of `session.rs`).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::Sha256;

/// The imported formats authd recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Argon2,
    Bcrypt,
    Scrypt,
    Pbkdf2Sha256,
}

impl Format {
    /// The longest hash string accepted.
    pub const MAX_LEN: usize = 1024;

    /// The format of `hash`, if authd can verify it (checked in full, as login
    /// would parse it, without the password).
    pub fn of(hash: &str) -> Option<Format> {
        if hash.len() > Self::MAX_LEN {
            return None;
        }
        if hash.starts_with("$argon2") {
            let parsed = ::argon2::PasswordHash::new(hash).ok()?;
            ::argon2::Algorithm::try_from(parsed.algorithm).ok()?;
            ::argon2::Params::try_from(&parsed).ok()?;
            return (parsed.hash.is_some() && parsed.salt.is_some()).then_some(Format::Argon2);
        }
        if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
            return bcrypt_parts(hash).map(|_| Format::Bcrypt);
        }
        if hash.starts_with("$scrypt$") {
            return Scrypt::parse(hash).map(|_| Format::Scrypt);
        }
        Pbkdf2::parse(hash).map(|_| Format::Pbkdf2Sha256)
    }
}

/// Whether `password` matches an imported (non-argon2) `hash`; `None` when the
/// hash is none of these formats.
pub fn verify(password: &str, hash: &str) -> Option<bool> {
    match Format::of(hash)? {
        Format::Argon2 => None,
        Format::Bcrypt => Some(bcrypt::verify(password, hash).unwrap_or(false)),
        Format::Scrypt => {
            let s = Scrypt::parse(hash)?;
            let params = scrypt::Params::new(s.log_n, s.r, s.p, s.hash.len()).ok()?;
            let mut out = vec![0u8; s.hash.len()];
            scrypt::scrypt(password.as_bytes(), &s.salt, &params, &mut out).ok()?;
            Some(same(&out, &s.hash))
        }
        Format::Pbkdf2Sha256 => {
            let p = Pbkdf2::parse(hash)?;
            let mut out = vec![0u8; p.hash.len()];
            pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &p.salt, p.rounds, &mut out);
            Some(same(&out, &p.hash))
        }
    }
}

/// bcrypt: `$2b$CC$` + 22 salt + 31 hash characters of bcrypt's base64.
fn bcrypt_parts(hash: &str) -> Option<()> {
    let rest = hash.get(4..)?;
    let (cost, tail) = rest.split_once('$')?;
    let cost: u32 = cost.parse().ok()?;
    let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '/';
    ((4..=31).contains(&cost) && tail.len() == 53 && tail.chars().all(alphabet)).then_some(())
}

struct Scrypt {
    log_n: u8,
    r: u32,
    p: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Scrypt {
    /// passlib: `$scrypt$ln=16,r=8,p=1$<ab64 salt>$<ab64 hash>`.
    fn parse(hash: &str) -> Option<Scrypt> {
        let mut parts = hash.strip_prefix("$scrypt$")?.split('$');
        let (params, salt, out) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let (mut log_n, mut r, mut p) = (None, None, None);
        for kv in params.split(',') {
            match kv.split_once('=')? {
                ("ln", v) => log_n = v.parse::<u8>().ok(),
                ("r", v) => r = v.parse::<u32>().ok(),
                ("p", v) => p = v.parse::<u32>().ok(),
                _ => return None,
            }
        }
        let (log_n, r, p) = (log_n?, r?, p?);
        // Bounds that keep a hostile import from costing a login minutes or GiBs.
        if !(1..=20).contains(&log_n) || !(1..=32).contains(&r) || !(1..=16).contains(&p) {
            return None;
        }
        let (salt, hash) = (ab64(salt)?, ab64(out)?);
        (!salt.is_empty() && (16..=64).contains(&hash.len())).then_some(Scrypt {
            log_n,
            r,
            p,
            salt,
            hash,
        })
    }
}

struct Pbkdf2 {
    rounds: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Pbkdf2 {
    /// passlib `$pbkdf2-sha256$29000$<ab64 salt>$<ab64 hash>`, or Django
    /// `pbkdf2_sha256$260000$<salt text>$<base64 hash>`.
    fn parse(hash: &str) -> Option<Pbkdf2> {
        let (rounds, salt, out) = if let Some(rest) = hash.strip_prefix("$pbkdf2-sha256$") {
            let mut parts = rest.split('$');
            let (rounds, salt, out) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            (rounds, ab64(salt)?, ab64(out)?)
        } else if let Some(rest) = hash.strip_prefix("pbkdf2_sha256$") {
            let mut parts = rest.split('$');
            let (rounds, salt, out) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || salt.is_empty() {
                return None;
            }
            (rounds, salt.as_bytes().to_vec(), STANDARD.decode(out).ok()?)
        } else {
            return None;
        };
        let rounds: u32 = rounds.parse().ok()?;
        ((1_000..=10_000_000).contains(&rounds) && (16..=64).contains(&out.len())).then_some(
            Pbkdf2 {
                rounds,
                salt,
                hash: out,
            },
        )
    }
}

/// passlib's "adapted base64": standard alphabet with `.` for `+`, no padding.
fn ab64(s: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD.decode(s.replace('.', "+")).ok()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Independent fixtures (Python bcrypt, passlib) are in tests/api/import.rs.
    const PASSWORD: &str = "hunter2hunter2";

    #[test]
    fn malformed_or_unknown_hashes_are_not_recognised() {
        for bad in [
            "",
            "plaintext",
            "$2b$99$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
            "$2b$10$short",
            "$scrypt$ln=40,r=8,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
            "$pbkdf2-sha256$10$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
            "$1$md5crypt$abcdef",
            "{SSHA}abcdef",
        ] {
            assert_eq!(Format::of(bad), None, "{bad}");
        }
    }

    #[test]
    fn django_and_passlib_pbkdf2_verify() {
        // Computed here with the same primitive, as Django would store it.
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(PASSWORD.as_bytes(), b"saltysalt", 1_000, &mut out);
        let django = format!("pbkdf2_sha256$1000$saltysalt${}", STANDARD.encode(out));
        assert_eq!(Format::of(&django), Some(Format::Pbkdf2Sha256));
        assert_eq!(verify(PASSWORD, &django), Some(true));
        assert_eq!(verify("wrong password", &django), Some(false));
        let passlib = format!(
            "$pbkdf2-sha256$1000${}${}",
            STANDARD_NO_PAD.encode(b"saltysalt").replace('+', "."),
            STANDARD_NO_PAD.encode(out).replace('+', ".")
        );
        assert_eq!(verify(PASSWORD, &passlib), Some(true));
    }
}
