//! Secrets at rest (the signing keys' seeds; later the one-time-code secrets) are
//! sealed with a key-encryption key from a file (`AUTHD_SECRETS_KEY_FILE`, a mounted
//! secret): a copy of the database alone holds no usable secret.
//!
//! The file holds one or more keys, one per line (64 hex digits or base64 of 32
//! bytes; `#` comments and blank lines skipped). The first seals; every one of them
//! opens, so a new key can be put first while the old stays below it until
//! `authd keys reseal` has sealed everything again with the new one.
//!
//! A sealed value is `0x01 || key id (8) || nonce (12) || ChaCha20-Poly1305(value)`,
//! the key id being the first 8 bytes of the key's SHA-256; the associated data
//! names what the value is (a signing key's `kid`), so a sealed value moved to
//! another row does not open. Values written before sealing existed are plain
//! (never starting with 0x01 and 69 bytes long) and are read as they are.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const ID_LEN: usize = 8;
const TAG_LEN: usize = 16;

/// The key-encryption keys of `AUTHD_SECRETS_KEY_FILE`, the first one current.
pub struct SecretsKey {
    keys: Vec<([u8; ID_LEN], LessSafeKey)>,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretsKey({} keys)", self.keys.len())
    }
}

impl SecretsKey {
    /// Reads the keys of `path`; errors name the line, never a key.
    pub fn load(path: &Path) -> anyhow::Result<SecretsKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading AUTHD_SECRETS_KEY_FILE {}", path.display()))?;
        Self::parse(&text)
            .map_err(|e| anyhow::anyhow!("AUTHD_SECRETS_KEY_FILE {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<SecretsKey, String> {
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bytes = decode(line).ok_or_else(|| {
                format!(
                    "line {}: expected 32 bytes (64 hex digits or base64)",
                    i + 1
                )
            })?;
            let id: [u8; ID_LEN] = Sha256::digest(bytes)[..ID_LEN].try_into().expect("8 bytes");
            let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).expect("a 32-byte key");
            keys.push((id, LessSafeKey::new(key)));
        }
        if keys.is_empty() {
            return Err("no key in the file".into());
        }
        Ok(SecretsKey { keys })
    }

    /// Writes a new random key to `path` (0600) unless the file exists; for the
    /// embedded store, whose data directory then holds the database and its key
    /// apart (a copy of the database file alone opens nothing).
    pub fn create_if_missing(path: &Path) -> anyhow::Result<()> {
        if path.exists() {
            return Ok(());
        }
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| anyhow::anyhow!("no randomness for a secrets key"))?;
        let text = format!(
            "# authd's key-encryption key (AUTHD_SECRETS_KEY_FILE), made at first start\n{}\n",
            hex(&key)
        );
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        crate::private_files::private_file(path)?;
        Ok(())
    }

    /// `value` sealed with the current key, bound to `context`.
    pub fn seal(&self, value: &[u8], context: &str) -> anyhow::Result<Vec<u8>> {
        let (id, key) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no randomness for a nonce"))?;
        let mut sealed = value.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = Vec::with_capacity(1 + ID_LEN + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The value of `stored`: opened with whichever key sealed it, or as it is when
    /// it was stored plain.
    pub fn open(
        keys: Option<&SecretsKey>,
        stored: &[u8],
        context: &str,
    ) -> anyhow::Result<Vec<u8>> {
        if !is_sealed(stored) {
            return Ok(stored.to_vec());
        }
        let keys = keys.context(
            "a secret in the database is sealed, and no AUTHD_SECRETS_KEY_FILE is set to open it",
        )?;
        let id = &stored[1..1 + ID_LEN];
        let (_, key) = keys
            .keys
            .iter()
            .find(|(k, _)| k[..] == *id)
            .context("a secret is sealed with a key AUTHD_SECRETS_KEY_FILE does not hold")?;
        let nonce: [u8; NONCE_LEN] = stored[1 + ID_LEN..1 + ID_LEN + NONCE_LEN]
            .try_into()
            .expect("length checked by is_sealed");
        let mut sealed = stored[1 + ID_LEN + NONCE_LEN..].to_vec();
        let value = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| anyhow::anyhow!("a sealed secret does not open (altered, or moved)"))?;
        Ok(value.to_vec())
    }

    /// Whether `stored` is sealed with the current key (`keys reseal` skips it).
    pub fn is_current(&self, stored: &[u8]) -> bool {
        is_sealed(stored) && stored[1..1 + ID_LEN] == self.keys[0].0
    }
}

/// Whether `stored` is a sealed value rather than a plain one.
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.len() > 1 + ID_LEN + NONCE_LEN + TAG_LEN && stored[0] == VERSION
}

fn decode(line: &str) -> Option<[u8; 32]> {
    let bytes = if line.len() == 64 && line.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&line[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        STANDARD.decode(line).ok()?
    };
    bytes.try_into().ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const B: &str = "ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=";

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_its_context() {
        let a = SecretsKey::parse(A).unwrap();
        let sealed = a
            .seal(b"a 32-byte seed of a signing key!", "kid-1")
            .unwrap();
        assert!(is_sealed(&sealed) && a.is_current(&sealed));
        assert_eq!(
            SecretsKey::open(Some(&a), &sealed, "kid-1").unwrap(),
            b"a 32-byte seed of a signing key!"
        );
        assert!(
            SecretsKey::open(Some(&a), &sealed, "kid-2").is_err(),
            "moved to another row"
        );
        let b = SecretsKey::parse(B).unwrap();
        assert!(
            SecretsKey::open(Some(&b), &sealed, "kid-1").is_err(),
            "another key"
        );
        assert!(
            SecretsKey::open(None, &sealed, "kid-1").is_err(),
            "no key at all"
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(SecretsKey::open(Some(&a), &altered, "kid-1").is_err());
    }

    #[test]
    fn a_rotated_file_opens_old_values_and_seals_with_the_new_key() {
        let old = SecretsKey::parse(A).unwrap();
        let sealed = old.seal(b"seed", "kid").unwrap();
        let rotated = SecretsKey::parse(&format!("# new first\n{B}\n\n{A}\n")).unwrap();
        assert_eq!(
            SecretsKey::open(Some(&rotated), &sealed, "kid").unwrap(),
            b"seed"
        );
        assert!(!rotated.is_current(&sealed), "reseal would seal it again");
        let resealed = rotated.seal(b"seed", "kid").unwrap();
        assert!(rotated.is_current(&resealed));
    }

    #[test]
    fn plain_values_are_read_as_they_are_and_bad_files_refused() {
        let plain = [7u8; 32];
        assert!(!is_sealed(&plain));
        assert_eq!(SecretsKey::open(None, &plain, "kid").unwrap(), plain);
        for bad in ["", "# only a comment", "abc", &A[..62]] {
            assert!(SecretsKey::parse(bad).is_err(), "{bad:?}");
        }
        let err = SecretsKey::parse(&format!("{A}\nnot a key")).unwrap_err();
        assert!(err.starts_with("line 2") && !err.contains(A));
    }
}
