//! Password hashes brought by an import, in the formats teams have: bcrypt
//! (`$2a$`, `$2b$`, `$2y$`), scrypt (passlib's `$scrypt$ln=,r=,p=$salt$hash`),
//! PBKDF2-SHA256 (passlib's `$pbkdf2-sha256$rounds$salt$hash` and Django's
//! `pbkdf2_sha256$rounds$salt$hash`). argon2i/argon2d/argon2id PHC strings with any
//! parameters go through `argon2::verify_phc`. Login verifies them and then stores
//! an argon2id hash with the configured parameters (the rehash of `session.rs`).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::Sha256;

/// The most a stored hash may cost one verification, in every format: a hash that
/// asks for more (an import of `m=4194304`, bcrypt cost 31) would pin a hashing
/// thread for minutes or grow its memory past a container's limit. Checked when
/// a hash is imported (refused with its line) and again before every verification.
pub mod bounds {
    /// argon2: memory in KiB (64 MiB), passes, lanes, and memory x passes.
    pub const ARGON2_MAX_MEMORY_KIB: u32 = 65_536;
    pub const ARGON2_MAX_ITERATIONS: u32 = 16;
    pub const ARGON2_MAX_PARALLELISM: u32 = 16;
    pub const ARGON2_MAX_MEMORY_X_ITERATIONS: u64 = 262_144;
    /// bcrypt: 2^14 rounds, about a second of one core.
    pub const BCRYPT_MAX_COST: u32 = 14;
    /// scrypt: 128 x r x N bytes of memory (64 MiB), and p.
    pub const SCRYPT_MAX_MEMORY: u64 = 64 * 1024 * 1024;
    pub const SCRYPT_MAX_P: u32 = 4;
    /// PBKDF2-SHA256 rounds (Django's 2024 default is 870,000).
    pub const PBKDF2_MAX_ROUNDS: u32 = 2_000_000;
}

/// Why an argon2 PHC string's parameters are refused, if they are.
pub fn argon2_over_bounds(params: &::argon2::Params) -> Option<String> {
    use bounds::*;
    let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
    if m > ARGON2_MAX_MEMORY_KIB {
        return Some(format!(
            "argon2 memory {m} KiB is over {ARGON2_MAX_MEMORY_KIB}"
        ));
    }
    if t > ARGON2_MAX_ITERATIONS || p > ARGON2_MAX_PARALLELISM {
        return Some(format!(
            "argon2 t={t}, p={p} is over t={ARGON2_MAX_ITERATIONS}, p={ARGON2_MAX_PARALLELISM}"
        ));
    }
    if u64::from(m) * u64::from(t) > ARGON2_MAX_MEMORY_X_ITERATIONS {
        return Some(format!(
            "argon2 memory x passes {} is over {ARGON2_MAX_MEMORY_X_ITERATIONS}",
            u64::from(m) * u64::from(t)
        ));
    }
    None
}

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
    /// would parse it, without the password) within the cost bounds.
    pub fn of(hash: &str) -> Option<Format> {
        Self::check(hash).ok()
    }

    /// `of`, or why not: not a format authd reads, or one that costs too much.
    pub fn check(hash: &str) -> Result<Format, String> {
        const UNKNOWN: &str = "not a bcrypt, scrypt, PBKDF2-SHA256 or argon2 hash authd can verify";
        if hash.len() > Self::MAX_LEN {
            return Err(format!("longer than {} characters", Self::MAX_LEN));
        }
        if hash.starts_with("$argon2") {
            let parsed = ::argon2::PasswordHash::new(hash).map_err(|_| UNKNOWN.to_string())?;
            ::argon2::Algorithm::try_from(parsed.algorithm).map_err(|_| UNKNOWN.to_string())?;
            let params = ::argon2::Params::try_from(&parsed).map_err(|_| UNKNOWN.to_string())?;
            if let Some(why) = argon2_over_bounds(&params) {
                return Err(why);
            }
            return (parsed.hash.is_some() && parsed.salt.is_some())
                .then_some(Format::Argon2)
                .ok_or_else(|| UNKNOWN.to_string());
        }
        if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
            return bcrypt_parts(hash).map(|_| Format::Bcrypt);
        }
        if hash.starts_with("$scrypt$") {
            return Scrypt::parse(hash).map(|_| Format::Scrypt);
        }
        let pbkdf2 = Pbkdf2::parse(hash).ok_or_else(|| UNKNOWN.to_string())?;
        if pbkdf2.rounds > bounds::PBKDF2_MAX_ROUNDS {
            return Err(format!(
                "PBKDF2 rounds {} is over {}",
                pbkdf2.rounds,
                bounds::PBKDF2_MAX_ROUNDS
            ));
        }
        Ok(Format::Pbkdf2Sha256)
    }
}

/// Whether `password` matches an imported (non-argon2) `hash`; `None` when the
/// hash is none of these formats.
pub fn verify(password: &str, hash: &str) -> Option<bool> {
    match Format::of(hash)? {
        Format::Argon2 => None,
        Format::Bcrypt => Some(bcrypt::verify(password, hash).unwrap_or(false)),
        Format::Scrypt => {
            let s = Scrypt::parse(hash).ok()?;
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
fn bcrypt_parts(hash: &str) -> Result<(), String> {
    let malformed = || "not a well-formed bcrypt hash".to_string();
    let rest = hash.get(4..).ok_or_else(malformed)?;
    let (cost, tail) = rest.split_once('$').ok_or_else(malformed)?;
    let cost: u32 = cost.parse().map_err(|_| malformed())?;
    let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '/';
    if tail.len() != 53 || !tail.chars().all(alphabet) || cost < 4 {
        return Err(malformed());
    }
    if cost > bounds::BCRYPT_MAX_COST {
        return Err(format!(
            "bcrypt cost {cost} is over {}",
            bounds::BCRYPT_MAX_COST
        ));
    }
    Ok(())
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
    fn parse(hash: &str) -> Result<Scrypt, String> {
        Self::parts(hash).ok_or_else(|| "not a well-formed passlib scrypt hash".to_string())?
    }

    fn parts(hash: &str) -> Option<Result<Scrypt, String>> {
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
        if !(1..=32).contains(&log_n) || !(1..=32).contains(&r) || p == 0 {
            return None;
        }
        let (salt, hash) = (ab64(salt)?, ab64(out)?);
        if salt.is_empty() || !(16..=64).contains(&hash.len()) {
            return None;
        }
        // Bounds that keep a hostile import from costing a login minutes or GiBs.
        let memory = (128 * u64::from(r)) << log_n;
        if memory > bounds::SCRYPT_MAX_MEMORY || p > bounds::SCRYPT_MAX_P {
            return Some(Err(format!(
                "scrypt ln={log_n}, r={r}, p={p} is over {} MiB or p={}",
                bounds::SCRYPT_MAX_MEMORY >> 20,
                bounds::SCRYPT_MAX_P
            )));
        }
        Some(Ok(Scrypt {
            log_n,
            r,
            p,
            salt,
            hash,
        }))
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
        ((1_000..).contains(&rounds) && (16..=64).contains(&out.len())).then_some(Pbkdf2 {
            rounds,
            salt,
            hash: out,
        })
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
