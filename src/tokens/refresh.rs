//! Refresh tokens: 256 random bits, opaque to clients, stored only as SHA-256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Length of a refresh token as sent: 32 bytes in unpadded base64url.
pub const TOKEN_CHARS: usize = 43;

/// A new token and the hash that is stored in its place.
pub fn new_token() -> (String, [u8; 32]) {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let hash = Sha256::digest(token.as_bytes()).into();
    (token, hash)
}

/// The stored hash of a presented token; `None` when it cannot be one of ours.
pub fn hash_of(token: &str) -> Option<[u8; 32]> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    if token.len() != TOKEN_CHARS || raw.len() != 32 {
        return None;
    }
    Some(Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_hashes_to_what_is_stored() {
        let (token, hash) = new_token();
        assert_eq!(token.len(), TOKEN_CHARS);
        assert_eq!(hash_of(&token), Some(hash));
        assert_ne!(new_token().0, token, "random, never repeated");
    }

    #[test]
    fn strings_that_cannot_be_tokens_have_no_hash() {
        let (token, _) = new_token();
        assert_eq!(hash_of(&token[1..]), None);
        assert_eq!(hash_of(&format!("{token}=")), None);
        assert_eq!(hash_of(&"!".repeat(TOKEN_CHARS)), None);
        assert_eq!(hash_of(""), None);
    }
}
