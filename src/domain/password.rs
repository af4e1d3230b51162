use std::fmt;

/// A candidate password: 8 to 1024 bytes, no composition rules (NIST SP 800-63B).
/// The upper bound keeps a single request from buying minutes of hashing.
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_BYTES: usize = 8;
    pub const MAX_BYTES: usize = 1024;

    pub fn parse(raw: String) -> Result<Self, String> {
        if raw.len() < Self::MIN_BYTES {
            return Err(format!("must be at least {} bytes", Self::MIN_BYTES));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(format!("must be at most {} bytes", Self::MAX_BYTES));
        }
        Ok(Self(raw))
    }

    /// A password presented at login: checked against the stored hash, so only
    /// the upper bound applies (passwords set under other rules still log in).
    pub fn presented(raw: String) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(format!("must be at most {} bytes", Self::MAX_BYTES));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::Password;

    #[test]
    fn byte_length_bounds_are_inclusive() {
        assert!(Password::parse("a".repeat(8)).is_ok());
        assert!(Password::parse("a".repeat(1024)).is_ok());
        assert!(Password::parse("a".repeat(7)).is_err());
        assert!(Password::parse("a".repeat(1025)).is_err());
    }

    #[test]
    fn length_is_counted_in_bytes_not_characters() {
        // four two-byte characters are eight bytes
        assert!(Password::parse("éééé".into()).is_ok());
        assert!(Password::parse("ééé".into()).is_err());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let p = Password::parse("correct horse battery".into()).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
