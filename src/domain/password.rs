use std::fmt;

/// A candidate password: 8 to 1024 characters (Unicode code points, as JSON
/// Schema's minLength and maxLength count them, so the API document states the
/// rule exactly), no composition rules (NIST SP 800-63B). The upper bound keeps a
/// single request from buying minutes of hashing.
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(raw: String) -> Result<Self, String> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if chars > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        Ok(Self(raw))
    }

    /// A password presented at login: checked against the stored hash, so only
    /// the upper bound applies (passwords set under other rules still log in).
    pub fn presented(raw: String) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
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
    fn length_bounds_are_inclusive() {
        assert!(Password::parse("a".repeat(8)).is_ok());
        assert!(Password::parse("a".repeat(1024)).is_ok());
        assert!(Password::parse("a".repeat(7)).is_err());
        assert!(Password::parse("a".repeat(1025)).is_err());
    }

    #[test]
    fn length_is_counted_in_characters_as_the_schema_counts_it() {
        // four two-byte characters are eight bytes but four characters
        assert!(Password::parse("éééé".into()).is_err());
        assert!(Password::parse("éééééééé".into()).is_ok());
        assert!(Password::parse("é".repeat(1024)).is_ok(), "2,048 bytes");
        assert!(Password::parse("é".repeat(1025)).is_err());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let p = Password::parse("correct horse battery".into()).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
