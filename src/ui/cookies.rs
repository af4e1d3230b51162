//! The pages' cookies. The tokens live only in `HttpOnly; Secure` cookies scoped
//! to /ui (script cannot read them, other paths never receive them); the CSRF
//! secret in a `__Host-` cookie (this host only, never a subdomain's) that every
//! form repeats in a hidden field.

use axum::http::{header, HeaderMap};
use base64::Engine;
use rand::RngCore;

use crate::authn::totp::constant_time_eq;

pub const ACCESS: &str = "__Secure-authd_access";
pub const REFRESH: &str = "__Secure-authd_refresh";
/// The `mfa_token` between the password and the second factor.
pub const MFA: &str = "__Secure-authd_mfa";
pub const CSRF: &str = "__Host-authd_csrf";
/// The admin console's session (on the admin listener).
pub const ADMIN: &str = "__Secure-authd_admin";

/// The value of cookie `name` in the request, if any.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for the UI path: HttpOnly, Secure, SameSite=Lax (a link
/// from a mail or another site arrives signed in; a cross-site POST does not).
pub fn ui(name: &str, value: &str, max_age_secs: u64) -> String {
    format!("{name}={value}; Path=/ui; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Lax")
}

/// A `Set-Cookie` value that removes cookie `name` of the UI path.
pub fn clear(name: &str) -> String {
    ui(name, "", 0)
}

/// The CSRF cookie: this host only (`__Host-`: Path=/, no Domain), Strict.
pub fn csrf(value: &str) -> String {
    format!("{CSRF}={value}; Path=/; HttpOnly; Secure; SameSite=Strict")
}

/// 32 random bytes, base64url: a CSRF secret.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether a form comes from this site's own pages: the browser says it was
/// sent from this origin (`Sec-Fetch-Site`, when it says anything) and the form's
/// hidden field repeats the CSRF cookie (which another site can neither read
/// nor set).
pub fn csrf_ok(headers: &HeaderMap, field: Option<&str>) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if !matches!(site, None | Some("same-origin")) {
        return false;
    }
    match (read(headers, CSRF), field) {
        (Some(cookie), Some(field)) => {
            cookie.len() >= 32 && constant_time_eq(cookie.as_bytes(), field.as_bytes())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::request::Parts;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder().uri("/ui/login");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn hdrs(headers: &[(&str, &str)]) -> HeaderMap {
        parts(headers).headers
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let p = parts(&[(
            "cookie",
            "x__Host-authd_csrf=no; __Host-authd_csrf=yes; a=b",
        )]);
        assert_eq!(read(&p.headers, CSRF), Some("yes"));
        assert_eq!(read(&p.headers, ACCESS), None);
    }

    #[test]
    fn a_form_needs_the_cookie_repeated_and_no_cross_site_origin() {
        let token = random_token();
        let cookie = format!("{CSRF}={token}");
        assert!(csrf_ok(&hdrs(&[("cookie", &cookie)]), Some(&token)));
        assert!(csrf_ok(
            &hdrs(&[("cookie", &cookie), ("sec-fetch-site", "same-origin")]),
            Some(&token)
        ));
        assert!(!csrf_ok(
            &hdrs(&[("cookie", &cookie), ("sec-fetch-site", "cross-site")]),
            Some(&token)
        ));
        assert!(!csrf_ok(
            &hdrs(&[("cookie", &cookie), ("sec-fetch-site", "same-site")]),
            Some(&token)
        ));
        assert!(!csrf_ok(&hdrs(&[("cookie", &cookie)]), Some("other")));
        assert!(!csrf_ok(&hdrs(&[("cookie", &cookie)]), None));
        assert!(!csrf_ok(&hdrs(&[]), Some(&token)));
        assert!(!csrf_ok(
            &hdrs(&[("cookie", "__Host-authd_csrf=short")]),
            Some("short")
        ));
    }

    #[test]
    fn token_cookies_are_http_only_secure_and_scoped_to_the_pages() {
        let c = ui(REFRESH, "v", 60);
        for flag in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/ui;",
            "Max-Age=60",
        ] {
            assert!(c.contains(flag), "{c}");
        }
        assert!(csrf("v").contains("SameSite=Strict"));
        assert!(!csrf("v").contains("Domain"));
    }
}
