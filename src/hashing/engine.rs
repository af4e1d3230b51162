//! The argon2 engines: `fast` (argon2-rust, a port of the reference C with SIMD
//! chosen at run time: AVX-512, AVX2, SSE2, NEON) and `reference` (RustCrypto's
//! `argon2`, the crate authd used first). Both compute the same bytes for the
//! same inputs; the suite checks that over thousands of random inputs, and every
//! start checks the chosen engine against RFC 9106's vectors and the reference
//! before a hash is served. Either keeps its working memory per thread.
//!
//! What sits around the tag (PHC strings, salts, imported formats) stays with the
//! `argon2`/`password-hash` crates: an engine only computes tags.

use std::cell::RefCell;

use argon2::{Algorithm, AssociatedData, Block, ParamsBuilder, Version};

/// `AUTHD_ARGON2_ENGINE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// argon2-rust: the fastest bit-exact implementation on the CPUs we measured.
    Fast,
    /// RustCrypto's argon2: slower, audited more widely.
    Reference,
}

/// The cost of one computation: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// One argon2 computation's inputs (the secret and associated data are empty
/// for passwords; RFC 9106's vectors use them).
pub struct Inputs<'a> {
    pub algorithm: Algorithm,
    pub version: Version,
    pub shape: Shape,
    pub password: &'a [u8],
    pub salt: &'a [u8],
    pub secret: &'a [u8],
    pub ad: &'a [u8],
}

thread_local! {
    /// The fast engine's hasher, which keeps its arena between hashes.
    static FAST: RefCell<Option<argon2_rust::Hasher>> = const { RefCell::new(None) };
    /// The reference engine's working memory. Allocated per hash it was mapped
    /// and page-faulted anew every time: 4,857 faults (the whole 19 MiB) and ~7 ms
    /// of CPU per sign-up, measured under load.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Fast => "fast",
            Engine::Reference => "reference",
        }
    }

    /// What it runs on: the SIMD backend argon2-rust picked for this CPU, or the
    /// reference's portable code.
    pub fn backend(self) -> String {
        match self {
            Engine::Fast => argon2_rust::detected_backend().to_string().to_lowercase(),
            Engine::Reference => "portable".into(),
        }
    }

    /// The tag of `inputs` into `out`, in this thread's reused memory.
    pub fn compute(self, inputs: &Inputs<'_>, out: &mut [u8]) -> Result<(), String> {
        match self {
            Engine::Fast => fast(inputs, out),
            Engine::Reference => reference(inputs, out),
        }
    }

    /// Gives back this thread's memory above what `shape` needs (after a larger
    /// verification, an imported hash's).
    pub fn shrink(self, shape: Shape) {
        let keep = shape.memory_kib as usize;
        match self {
            Engine::Fast => FAST.with(|hasher| {
                if let Some(hasher) = hasher.borrow_mut().as_mut() {
                    if hasher.reserved_blocks() > keep {
                        hasher.clear();
                    }
                }
            }),
            Engine::Reference => MEMORY.with(|memory| {
                let mut memory = memory.borrow_mut();
                if memory.len() > keep {
                    memory.truncate(keep);
                    memory.shrink_to_fit();
                }
            }),
        }
    }

    /// The blocks of memory this thread holds for the engine (for tests).
    pub fn held_blocks(self) -> usize {
        match self {
            Engine::Fast => FAST.with(|h| h.borrow().as_ref().map_or(0, |h| h.reserved_blocks())),
            Engine::Reference => MEMORY.with(|m| m.borrow().capacity()),
        }
    }
}

fn fast(inputs: &Inputs<'_>, out: &mut [u8]) -> Result<(), String> {
    use argon2_rust::params::{Memory, TagLen};
    let Shape {
        memory_kib,
        iterations,
        parallelism,
    } = inputs.shape;
    let params = argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(memory_kib)))
        .passes(iterations)
        .lanes(parallelism)
        // The lanes are computed in this thread: the pool bounds the threads.
        .threads(1)
        .tag_len(TagLen::bytes(out.len() as u64))
        .build()
        .map_err(|e| format!("argon2 parameters: {e}"))?;
    let algorithm = match inputs.algorithm {
        Algorithm::Argon2d => argon2_rust::Algorithm::Argon2d,
        Algorithm::Argon2i => argon2_rust::Algorithm::Argon2i,
        Algorithm::Argon2id => argon2_rust::Algorithm::Argon2id,
    };
    let version = match inputs.version {
        Version::V0x10 => argon2_rust::Version::V0x10,
        Version::V0x13 => argon2_rust::Version::V0x13,
    };
    let argon2 = argon2_rust::Argon2::new(algorithm, version, params);
    FAST.with(|hasher| {
        let mut hasher = hasher.borrow_mut();
        let hasher = match hasher.as_mut() {
            Some(hasher) => {
                hasher.set_argon2(argon2);
                hasher
            }
            None => hasher.insert(argon2.hasher()),
        };
        hasher
            .hash_into_with_ad(inputs.password, inputs.salt, inputs.secret, inputs.ad, out)
            .map_err(|e| e.to_string())
    })
}

fn reference(inputs: &Inputs<'_>, out: &mut [u8]) -> Result<(), String> {
    let Shape {
        memory_kib,
        iterations,
        parallelism,
    } = inputs.shape;
    let mut params = ParamsBuilder::new();
    params
        .m_cost(memory_kib)
        .t_cost(iterations)
        .p_cost(parallelism)
        .output_len(out.len());
    if !inputs.ad.is_empty() {
        params.data(AssociatedData::new(inputs.ad).map_err(|e| e.to_string())?);
    }
    let params = params.build().map_err(|e| e.to_string())?;
    let argon2 = if inputs.secret.is_empty() {
        argon2::Argon2::new(inputs.algorithm, inputs.version, params)
    } else {
        argon2::Argon2::new_with_secret(inputs.secret, inputs.algorithm, inputs.version, params)
            .map_err(|e| e.to_string())?
    };
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        memory.resize(argon2.params().block_count(), Block::default());
        argon2
            .hash_password_into_with_memory(inputs.password, inputs.salt, out, &mut memory[..])
            .map_err(|e| e.to_string())
    })
}

/// RFC 9106, section 5: password 32 x 0x01, salt 16 x 0x02, secret 8 x 0x03,
/// associated data 12 x 0x04, m = 32 KiB, t = 3, p = 4, a 32-byte tag.
const RFC_9106: [(Algorithm, &str); 3] = [
    (
        Algorithm::Argon2d,
        "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb",
    ),
    (
        Algorithm::Argon2i,
        "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8",
    ),
    (
        Algorithm::Argon2id,
        "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659",
    ),
];

/// Checks `engine` before it serves: RFC 9106's three vectors, and a hash at
/// `shape` (the configured cost) against the reference crate's. An engine that
/// computes anything else would store hashes nobody can verify later.
pub fn self_check(engine: Engine, shape: Shape) -> Result<(), String> {
    let checked = check_with(
        engine.name(),
        |inputs, out| engine.compute(inputs, out),
        shape,
    );
    engine.shrink(shape);
    checked
}

/// `self_check` of any computation (the tests hand it a broken one).
fn check_with(
    name: &str,
    compute: impl Fn(&Inputs<'_>, &mut [u8]) -> Result<(), String>,
    shape: Shape,
) -> Result<(), String> {
    for (algorithm, expected) in RFC_9106 {
        let inputs = Inputs {
            algorithm,
            version: Version::V0x13,
            shape: Shape {
                memory_kib: 32,
                iterations: 3,
                parallelism: 4,
            },
            password: &[0x01; 32],
            salt: &[0x02; 16],
            secret: &[0x03; 8],
            ad: &[0x04; 12],
        };
        let mut tag = [0u8; 32];
        compute(&inputs, &mut tag)?;
        if hex(&tag) != expected {
            return Err(format!(
                "the {name} engine computes {} for RFC 9106's {algorithm:?} vector, not {expected}",
                hex(&tag)
            ));
        }
    }
    let inputs = Inputs {
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        shape,
        password: b"authd start-up check",
        salt: b"sixteen byte salt",
        secret: &[],
        ad: &[],
    };
    let (mut ours, mut theirs) = ([0u8; 32], [0u8; 32]);
    compute(&inputs, &mut ours)?;
    Engine::Reference.compute(&inputs, &mut theirs)?;
    Engine::Reference.shrink(shape);
    if ours != theirs {
        return Err(format!(
            "the {name} engine and the reference crate disagree at {shape:?}"
        ));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
