//! Compact JWS with EdDSA (Ed25519), and nothing else: the algorithm is pinned, so
//! `none`, HS256-with-the-public-key and RS/HS confusion are refused before any key
//! is looked at.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The only `alg` authd signs with or accepts.
pub const ALG: &str = "EdDSA";

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    /// Extensions a verifier must understand; authd understands none.
    #[serde(default, skip_serializing)]
    crit: Option<serde_json::Value>,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user id.
    pub sub: Uuid,
    pub aud: Audience,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The session (refresh-token family) the token was issued for. authd's own
    /// endpoints refuse the token once the session is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// Whether the user confirmed its email address when the token was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// When the user last proved who they are (OpenID Connect `auth_time`, Unix
    /// seconds): the login the session came from; a refresh keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// How the user proved who they are (RFC 8176: `pwd`; with a second factor
    /// `pwd`, `otp`, `mfa`); a refresh keeps the login's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The assurance level of that authentication: `aal1` (one factor) or `aal2`
    /// (two), as NIST SP 800-63B names them (OpenID Connect's `acr` claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// RFC 7519 allows one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(one) => one == aud,
            Audience::Many(many) => many.iter().any(|a| a == aud),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Expired,
    NotYetValid,
    WrongAudience,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenError::Malformed => "the token is not a compact JWS",
            TokenError::Algorithm => "the token's algorithm is not EdDSA",
            TokenError::UnknownKey => "the token's key is not known",
            TokenError::Signature => "the token's signature does not verify",
            TokenError::Expired => "the token has expired",
            TokenError::NotYetValid => "the token is not valid yet",
            TokenError::WrongAudience => "the token was issued for another issuer or audience",
        })
    }
}

impl std::error::Error for TokenError {}

/// What a verifier checks the claims against.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// Tolerated clock difference for `iat` and `nbf` (not for `exp`).
    pub leeway: i64,
}

pub fn sign(key: &SigningKey, kid: &str, claims: &Claims) -> String {
    let header = Header {
        alg: ALG.into(),
        typ: Some("JWT".into()),
        kid: Some(kid.into()),
        crit: None,
    };
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header serializes"));
    let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let input = format!("{header}.{claims}");
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// The `kid` a token names, after checking the header pins EdDSA.
pub fn key_id(token: &str) -> Result<String, TokenError> {
    let (header, _, _) = split(token)?;
    let header: Header = decode_json(header)?;
    if header.alg != ALG {
        return Err(TokenError::Algorithm);
    }
    if header.crit.is_some() {
        return Err(TokenError::Malformed);
    }
    header.kid.ok_or(TokenError::UnknownKey)
}

/// Verifies signature and claims; `key` is the one `key_id` named.
pub fn verify(token: &str, key: &VerifyingKey, expect: &Expect<'_>) -> Result<Claims, TokenError> {
    key_id(token)?;
    let (header, claims, signature) = split(token)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    let signature = Signature::from_slice(&signature).map_err(|_| TokenError::Malformed)?;
    let signed = &token[..header.len() + 1 + claims.len()];
    key.verify_strict(signed.as_bytes(), &signature)
        .map_err(|_| TokenError::Signature)?;
    let claims: Claims = decode_json(claims)?;
    if claims.iss != expect.issuer || !claims.aud.contains(expect.audience) {
        return Err(TokenError::WrongAudience);
    }
    if expect.now >= claims.exp {
        return Err(TokenError::Expired);
    }
    let not_before = claims.nbf.unwrap_or(claims.iat).max(claims.iat);
    if not_before > expect.now + expect.leeway {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

fn split(token: &str) -> Result<(&str, &str, &str), TokenError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(c), Some(s), None) if !h.is_empty() && !c.is_empty() => Ok((h, c, s)),
        _ => Err(TokenError::Malformed),
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "authd".into(),
            sub: Uuid::now_v7(),
            aud: Audience::One("api".into()),
            iat: now,
            exp: now + 900,
            jti: Uuid::new_v4(),
            nbf: None,
            sid: None,
            email_verified: None,
            auth_time: None,
            amr: None,
            acr: None,
        }
    }

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            issuer: "authd",
            audience: "api",
            now,
            leeway: 60,
        }
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn a_signed_token_verifies_and_names_its_key() {
        let (k, c) = (key(1), claims(1_000));
        let token = sign(&k, "k1", &c);
        assert_eq!(key_id(&token).unwrap(), "k1");
        assert_eq!(
            verify(&token, &k.verifying_key(), &expect(1_000)).unwrap(),
            c
        );
    }

    #[test]
    fn expiry_is_exclusive_and_has_no_leeway() {
        let (k, c) = (key(1), claims(1_000));
        let token = sign(&k, "k1", &c);
        let vk = k.verifying_key();
        assert!(verify(&token, &vk, &expect(1_899)).is_ok());
        assert_eq!(
            verify(&token, &vk, &expect(1_900)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_from_the_future_is_refused_beyond_the_leeway() {
        let (k, c) = (key(1), claims(1_000));
        let token = sign(&k, "k1", &c);
        let vk = k.verifying_key();
        assert!(verify(&token, &vk, &expect(940)).is_ok());
        assert_eq!(
            verify(&token, &vk, &expect(939)),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn a_tampered_payload_or_another_key_fails_the_signature() {
        let (k, mut c) = (key(1), claims(1_000));
        let token = sign(&k, "k1", &c);
        let vk = k.verifying_key();
        assert_eq!(
            verify(&token, &key(2).verifying_key(), &expect(1_000)),
            Err(TokenError::Signature)
        );
        c.sub = Uuid::now_v7();
        let forged_claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert_eq!(
            verify(&forged, &vk, &expect(1_000)),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn none_and_hmac_algorithms_are_refused_before_any_key_is_used() {
        let (k, c) = (key(1), claims(1_000));
        let vk = k.verifying_key();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        for alg in ["none", "HS256", "RS256", "ES256", "eddsa"] {
            let header = b64(&serde_json::json!({"alg": alg, "kid": "k1"}));
            let token = format!("{header}.{body}.");
            assert_eq!(key_id(&token), Err(TokenError::Algorithm), "{alg}");
            assert_eq!(
                verify(&token, &vk, &expect(1_000)),
                Err(TokenError::Algorithm)
            );
        }
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let k = key(1);
        let vk = k.verifying_key();
        let mut c = claims(1_000);
        c.aud = Audience::Many(vec!["other".into(), "api".into()]);
        assert!(verify(&sign(&k, "k1", &c), &vk, &expect(1_000)).is_ok());
        c.aud = Audience::One("other".into());
        let e = verify(&sign(&k, "k1", &c), &vk, &expect(1_000));
        assert_eq!(e, Err(TokenError::WrongAudience));
        let mut c = claims(1_000);
        c.iss = "evil".into();
        let e = verify(&sign(&k, "k1", &c), &vk, &expect(1_000));
        assert_eq!(e, Err(TokenError::WrongAudience));
    }

    #[test]
    fn malformed_tokens_and_critical_extensions_are_refused() {
        let k = key(1);
        let vk = k.verifying_key();
        for bad in ["", "a.b", "a.b.c.d", "!!.??.%%", "..sig"] {
            assert_eq!(
                verify(bad, &vk, &expect(1_000)),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
        let header = b64(&serde_json::json!({"alg": "EdDSA", "kid": "k1", "crit": ["exp"]}));
        let token = format!("{header}.e30.");
        assert_eq!(key_id(&token), Err(TokenError::Malformed));
    }
}
