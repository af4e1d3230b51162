use std::fmt;

/// An e-mail address, syntactically checked and lower-cased, so uniqueness is
/// case-insensitive in every store. Only ASCII addresses are accepted: that keeps
/// the folding identical in Rust, Postgres and SQLite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// RFC 5321: 254 octets for the path, 64 for the local part.
    pub const MAX_LEN: usize = 254;
    const MAX_LOCAL_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_ascii_lowercase();
        if email.is_empty() {
            return Err("must not be empty".into());
        }
        if email.len() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        if !email.is_ascii() {
            return Err("must be an ASCII address".into());
        }
        let (local, domain) = email
            .rsplit_once('@')
            .ok_or_else(|| "must look like name@example.com".to_string())?;
        check_local(local)?;
        check_domain(domain)?;
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_local(local: &str) -> Result<(), String> {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~.-";
    if local.is_empty() || local.len() > Email::MAX_LOCAL_LEN {
        return Err(format!(
            "the part before '@' must be 1 to {} characters",
            Email::MAX_LOCAL_LEN
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("the part before '@' has a misplaced '.'".into());
    }
    if let Some(bad) = local
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || SPECIALS.contains(*c)))
    {
        return Err(format!("the part before '@' may not contain {bad:?}"));
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("the domain must contain a '.'".into());
    }
    for label in labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(format!("the domain label {label:?} is not valid"));
        }
    }
    Ok(())
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn accepts_common_addresses_and_lowercases_them() {
        assert_eq!(
            Email::parse(" Alice.Smith+tag@Example.COM ")
                .unwrap()
                .as_str(),
            "alice.smith+tag@example.com"
        );
        assert!(Email::parse("a@b.co").is_ok());
        assert!(Email::parse("o'neil@sub-domain.example.org").is_ok());
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "alice@",
            "alice@localhost",
            "alice@@example.com",
            "al ice@example.com",
            ".alice@example.com",
            "al..ice@example.com",
            "alice@-example.com",
            "alice@example..com",
            "alice@exa_mple.com",
            "ålice@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn refuses_overlong_parts() {
        let local = "a".repeat(65);
        assert!(Email::parse(&format!("{local}@example.com")).is_err());
        let domain = format!("{}.com", "a".repeat(250));
        assert!(Email::parse(&format!("a@{domain}")).is_err());
    }
}
