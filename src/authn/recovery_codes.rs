//! Recovery codes: ten random codes shown once, kept only as SHA-256 digests, each
//! spent by the DELETE that finds it (`authn::mfa` spends them, the store keeps
//! them).

use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::totp;

/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;
/// The longest recovery code a request may send (dashes and spaces included).
pub const RECOVERY_CODE_MAX_CHARS: usize = 64;

/// Ten new recovery codes (`xxxx-xxxx-xxxx-xxxx`, 80 random bits each) and their
/// digests.
pub fn new() -> (Vec<String>, Vec<[u8; 32]>) {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut raw = [0u8; 10];
            OsRng.fill_bytes(&mut raw);
            let plain = totp::base32(&raw).to_lowercase();
            let shown = plain
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).expect("base32 is ASCII"))
                .collect::<Vec<_>>()
                .join("-");
            let digest = digest(&shown).expect("a code we made is well formed");
            (shown, digest)
        })
        .unzip()
}

/// The stored digest of a presented recovery code (any case, with or without
/// its dashes and spaces); `None` when it cannot be one.
pub fn digest(code: &str) -> Option<[u8; 32]> {
    let plain: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    let well_formed = plain.len() == 16
        && plain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    well_formed.then(|| Sha256::digest(plain.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_distinct_and_their_digests_match_any_spelling() {
        let (codes, digests) = new();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        let code = &codes[0];
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(digest(code), Some(digests[0]));
        let loose = code.replace('-', " ").to_uppercase();
        assert_eq!(digest(&loose), Some(digests[0]));
        for junk in ["", "abcd", "abcd-efgh-ijkl-mno1", "abcd-efgh-ijkl-mnop-q"] {
            assert_eq!(digest(junk), None, "{junk}");
        }
    }
}
