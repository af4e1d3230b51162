//! argon2: hashing into PHC strings and verifying them. The tag comes from an
//! `Engine` (in the calling thread's reused memory); the PHC strings, salts and
//! parameters from the `argon2`/`password-hash` crates. The pool (`super::pool`)
//! runs these off the async runtime.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{self, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Params, Version};

use super::engine::{Engine, Inputs, Shape};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's recommendation for argon2id.
    pub const OWASP: HashParams = HashParams {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    /// Checks the parameters the way argon2 will, so a bad setting fails at start-up,
    /// and against the bounds every stored hash is held to.
    pub fn validate(&self) -> Result<Params, String> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| format!("invalid argon2 parameters {self:?}: {e}"))?;
        match super::imported::argon2_over_bounds(&params) {
            Some(why) => Err(format!("argon2 parameters {self:?}: {why}")),
            None => Ok(params),
        }
    }

    /// The cost an engine computes with.
    pub fn shape(&self) -> Shape {
        Shape {
            memory_kib: self.memory_kib,
            iterations: self.iterations,
            parallelism: self.parallelism,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the hashing queue is full")]
    Overloaded,
    #[error("the hashing pool has stopped")]
    Stopped,
    #[error("hashing failed: {0}")]
    Failed(String),
    /// A stored hash asks for more than any verification may cost.
    #[error("not verified: {0}")]
    Refused(String),
}

/// One argon2id hash with a fresh salt, on the calling thread, into a PHC string.
/// The pool runs this; so does `authd-load --mode hash-limit` to measure the limit.
pub fn hash_blocking(
    engine: Engine,
    params: HashParams,
    password: &str,
) -> Result<String, HashError> {
    let failed = |e: password_hash::Error| HashError::Failed(e.to_string());
    let argon2_params = params.validate().map_err(HashError::Failed)?;
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).map_err(failed)?;
    let inputs = Inputs {
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        shape: params.shape(),
        password: password.as_bytes(),
        salt: salt_bytes,
        secret: &[],
        ad: &[],
    };
    let hash = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        engine
            .compute(&inputs, out)
            .map_err(|_| password_hash::Error::Crypto)
    })
    .map_err(failed)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&argon2_params).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    };
    Ok(phc.to_string())
}

/// Verifies `password` against a PHC string; a malformed string is an error, one
/// over the cost bounds is `Refused`. argon2 hashes are recomputed by `engine` in
/// the thread's reused memory and compared in constant time by `Output`'s `Eq`.
pub fn verify_phc(engine: Engine, password: &str, phc: &str) -> Result<bool, HashError> {
    // An imported bcrypt, scrypt or PBKDF2 hash (rehashed after a successful login),
    // within the cost bounds.
    if !phc.starts_with("$argon2") {
        return match super::imported::Format::check(phc) {
            Ok(_) => Ok(super::imported::verify(password, phc).unwrap_or(false)),
            Err(why) => Err(HashError::Refused(why)),
        };
    }
    let failed = |e: password_hash::Error| HashError::Failed(e.to_string());
    let parsed = PasswordHash::new(phc).map_err(failed)?;
    let (Ok(algorithm), Some(expected), Some(salt)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.hash,
        parsed.salt,
    ) else {
        return Err(HashError::Failed(
            "not an argon2 hash authd can recompute".into(),
        ));
    };
    let version = parsed
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .map_err(|e| HashError::Failed(e.to_string()))?;
    let params = Params::try_from(&parsed).map_err(failed)?;
    // A stored hash that asks for more than any hash may cost is not verified.
    if let Some(why) = super::imported::argon2_over_bounds(&params) {
        return Err(HashError::Refused(why));
    }
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(failed)?;
    let inputs = Inputs {
        algorithm,
        version,
        shape: Shape {
            memory_kib: params.m_cost(),
            iterations: params.t_cost(),
            parallelism: params.p_cost(),
        },
        password: password.as_bytes(),
        salt,
        secret: &[],
        ad: &[],
    };
    let computed = Output::init_with(expected.len(), |out| {
        engine
            .compute(&inputs, out)
            .map_err(|_| password_hash::Error::Crypto)
    })
    .map_err(failed)?;
    Ok(computed == expected)
}

/// The parameters a stored PHC string was made with, if it is an argon2id hash.
pub fn phc_params(phc: &str) -> Option<HashParams> {
    let parsed = PasswordHash::new(phc).ok()?;
    if parsed.algorithm.as_str() != "argon2id" {
        return None;
    }
    let params = Params::try_from(&parsed).ok()?;
    Some(HashParams {
        memory_kib: params.m_cost(),
        iterations: params.t_cost(),
        parallelism: params.p_cost(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

    const ENGINES: [Engine; 2] = [Engine::Fast, Engine::Reference];

    #[test]
    fn hashes_made_elsewhere_with_other_variants_verify() {
        let params = Params::new(64, 1, 1, Some(24)).unwrap();
        for (algorithm, version) in [
            (Algorithm::Argon2id, Version::V0x13),
            (Algorithm::Argon2i, Version::V0x10),
            (Algorithm::Argon2d, Version::V0x13),
        ] {
            let salt = SaltString::generate(&mut OsRng);
            let phc = argon2::Argon2::new(algorithm, version, params.clone())
                .hash_password(b"correct horse", &salt)
                .unwrap()
                .to_string();
            for engine in ENGINES {
                assert!(verify_phc(engine, "correct horse", &phc).unwrap(), "{phc}");
                assert!(!verify_phc(engine, "correct horsf", &phc).unwrap(), "{phc}");
            }
        }
        assert!(verify_phc(Engine::Fast, "x", "not a phc string").is_err());
    }

    #[test]
    fn a_larger_verification_gives_its_memory_back() {
        let big = Params::new(2048, 1, 1, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let phc = argon2::Argon2::new(Algorithm::Argon2id, Version::V0x13, big)
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        let normal = HashParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        for engine in ENGINES {
            assert!(verify_phc(engine, "correct horse", &phc).unwrap());
            assert!(
                engine.held_blocks() >= 2048,
                "{engine:?}: the buffer grew for it"
            );
            engine.shrink(normal.shape());
            assert!(
                engine.held_blocks() < 2048,
                "{engine:?}: the memory went back"
            );
        }
    }

    #[test]
    fn hashes_over_the_cost_bounds_are_refused_unverified() {
        for phc in [
            "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=64,t=4294967295,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$2b$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
        ] {
            assert!(
                matches!(
                    verify_phc(Engine::Fast, "x", phc),
                    Err(HashError::Refused(_))
                ),
                "{phc}"
            );
        }
    }

    #[test]
    fn invalid_params_are_reported() {
        let bad = HashParams {
            memory_kib: 1,
            iterations: 0,
            parallelism: 1,
        };
        assert!(bad.validate().is_err());
        assert!(HashParams::OWASP.validate().is_ok());
    }

    #[test]
    fn phc_params_ignores_other_algorithms_and_garbage() {
        assert_eq!(phc_params("not a hash"), None);
        assert_eq!(
            phc_params("$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
            None
        );
    }
}
