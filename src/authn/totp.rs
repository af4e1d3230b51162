//! RFC 6238 time-based one-time codes as authenticator apps make them (HMAC-SHA-1,
//! 6 digits, 30-second steps), the RFC 4648 base32 their secrets are written in,
//! the `otpauth://` URI they scan, and its QR code. Pure functions: the replay
//! guard (a step accepted once is never accepted again) is the store's.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds of one time step.
pub const STEP_SECS: i64 = 30;
/// What a code looks like, as the OpenAPI document states it.
pub const CODE_PATTERN: &str = "^[0-9]{6}$";
/// Bytes of a new secret: 160 bits, the length RFC 4226 recommends for SHA-1.
pub const SECRET_BYTES: usize = 20;

/// HOTP (RFC 4226): the code of `counter` under `secret`.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(DIGITS as u32)
}

/// The time step of Unix time `unix`.
pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECS)
}

/// The code of step `step`, zero-padded.
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    format!(
        "{:0width$}",
        hotp(secret, step.max(0) as u64),
        width = DIGITS
    )
}

/// Whether `code` looks like a code at all: exactly six ASCII digits (spaces
/// between them, as apps show them, are dropped).
pub fn normalize(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The latest step within `window` steps of `unix` whose code is `code`, compared
/// in constant time; `None` when no step of the window has it.
pub fn matching_step(secret: &[u8], code: &str, unix: i64, window: u32) -> Option<i64> {
    let code = normalize(code)?;
    let now = step_at(unix);
    let window = i64::from(window);
    let mut found = None;
    for step in now - window..=now + window {
        if constant_time_eq(code_at_step(secret, step).as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32, upper case, without padding (what authenticator apps read).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// `otpauth://totp/...` for `account` at `issuer` (the Key Uri Format apps scan).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let label = format!("{}:{}", percent(issuer), percent(account));
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret),
        percent(issuer)
    )
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The URI as a QR code, an SVG document.
pub fn qr_svg(uri: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::new(uri.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the SHA-1 seed and its 8-digit codes; the last six
    /// digits are the 6-digit codes.
    #[test]
    fn rfc_6238_test_vectors() {
        let seed = b"12345678901234567890";
        for (time, code8) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at_step(seed, step_at(time)), code8[2..], "T = {time}");
        }
    }

    #[test]
    fn rfc_4226_hotp_vectors() {
        let seed = b"12345678901234567890";
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(seed, counter as u64), *code);
        }
    }

    #[test]
    fn rfc_4648_base32_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn a_code_matches_within_the_window_only() {
        let seed = b"12345678901234567890";
        let now = 1_234_567_890;
        let code = |offset: i64| code_at_step(seed, step_at(now) + offset);
        assert_eq!(matching_step(seed, &code(0), now, 1), Some(step_at(now)));
        assert_eq!(
            matching_step(seed, &code(-1), now, 1),
            Some(step_at(now) - 1)
        );
        assert_eq!(
            matching_step(seed, &code(1), now, 1),
            Some(step_at(now) + 1)
        );
        assert_eq!(matching_step(seed, &code(-2), now, 1), None);
        assert_eq!(
            matching_step(seed, &code(-2), now, 2),
            Some(step_at(now) - 2)
        );
        let spaced = format!("{} {}", &code(0)[..3], &code(0)[3..]);
        assert_eq!(matching_step(seed, &spaced, now, 0), Some(step_at(now)));
        for junk in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(matching_step(seed, junk, now, 1), None, "{junk:?}");
        }
    }

    #[test]
    fn the_uri_says_what_apps_expect() {
        let uri = otpauth_uri("Example Co", "alice@example.com", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Example%20Co:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Co&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
}
