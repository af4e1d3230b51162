//! The relying party of passkeys, from the configuration (no request in sight:
//! `config` builds it at start).

use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

/// The relying party: `AUTHD_WEBAUTHN_RP_ID` and the origins its pages are
/// served from (`AUTHD_WEBAUTHN_ORIGINS`, comma-separated). The first origin is
/// the relying party's own; the others are allowed too.
pub fn relying_party(rp_id: &str, origins: &str) -> Result<Webauthn, String> {
    let origins = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| Url::parse(o).map_err(|e| format!("AUTHD_WEBAUTHN_ORIGINS: {o}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let (first, more) = origins
        .split_first()
        .ok_or("AUTHD_WEBAUTHN_ORIGINS: give at least one origin, as https://login.example.com")?;
    let mut builder = WebauthnBuilder::new(rp_id, first).map_err(|e| {
        format!(
            "AUTHD_WEBAUTHN_RP_ID {rp_id} does not fit the origin {first} \
             (the RP ID must be its host or a parent domain of it): {e}"
        )
    })?;
    // The first is checked by the builder; the others only here.
    let fits = |o: &Url| {
        o.host_str()
            .is_some_and(|host| host == rp_id || host.ends_with(&format!(".{rp_id}")))
    };
    for origin in more {
        if !fits(origin) {
            return Err(format!(
                "AUTHD_WEBAUTHN_ORIGINS: {origin} does not fit the RP ID {rp_id} \
                 (its host must be the RP ID or a name under it)"
            ));
        }
        builder = builder.append_allowed_origin(origin);
    }
    builder
        .rp_name("authd")
        .build()
        .map_err(|e| format!("AUTHD_WEBAUTHN_RP_ID/ORIGINS: {e}"))
}

#[cfg(test)]
mod tests {
    use super::relying_party;

    #[test]
    fn every_origin_must_fit_the_rp_id() {
        let both = "https://login.example.com, https://app.example.com";
        assert!(relying_party("example.com", both).is_ok());
        let other = "https://login.example.com,https://example.org";
        let refused = relying_party("example.com", other).unwrap_err();
        assert!(refused.contains("https://example.org"), "{refused}");
        let lookalike = "https://login.example.com,https://evilexample.com";
        assert!(relying_party("example.com", lookalike).is_err());
        assert!(relying_party("example.com", "https://example.org").is_err());
        assert!(relying_party("example.com", " , ").is_err());
    }
}
