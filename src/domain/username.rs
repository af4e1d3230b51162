use std::fmt;

/// A username: 3 to 32 characters of `[a-z0-9_.-]`, case-folded on the way in,
/// so `Alice` and `alice` are the same account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;
    /// The alphabet `parse` accepts, as the OpenAPI document states it.
    pub const PATTERN: &'static str = "^[A-Za-z0-9_.-]+$";

    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(format!(
                "must be {} to {} characters long",
                Self::MIN_LEN,
                Self::MAX_LEN
            ));
        }
        // Checked before folding: some non-ASCII letters fold to ASCII ones (the
        // Kelvin sign to `k`), which the document's pattern does not allow.
        if let Some(bad) = raw
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '-'))
        {
            return Err(format!(
                "may contain only a-z, 0-9, '_', '.' and '-' (found {bad:?})"
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Username;

    #[test]
    fn accepts_the_allowed_alphabet_and_folds_case() {
        let name = Username::parse("Alice_01.x-Y").unwrap();
        assert_eq!(name.as_str(), "alice_01.x-y");
    }

    #[test]
    fn length_bounds_are_inclusive() {
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("").is_err());
    }

    #[test]
    fn refuses_spaces_symbols_and_non_ascii() {
        // the Kelvin sign folds to an ASCII `k`: refused all the same
        for bad in [
            "al ice",
            "al@ice",
            "ålice",
            "alice!",
            "al/ice",
            "ALİCE",
            "\u{212A}ate",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
