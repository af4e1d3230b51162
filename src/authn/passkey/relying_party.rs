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
    for origin in more {
        builder = builder.append_allowed_origin(origin);
    }
    builder
        .rp_name("authd")
        .build()
        .map_err(|e| format!("AUTHD_WEBAUTHN_RP_ID/ORIGINS: {e}"))
}
