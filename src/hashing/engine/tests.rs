//! The two engines against each other, byte for byte, over thousands of random
//! inputs; each against RFC 9106; and the start-up check refusing a wrong engine.

use argon2::{Algorithm, Version};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::hashing::argon2::{hash_blocking, verify_phc, HashParams};

fn random_inputs(rng: &mut StdRng, large: bool) -> (Algorithm, Version, Shape, Vec<u8>, Vec<u8>) {
    let parallelism = rng.gen_range(1..=4);
    // Mostly small, so thousands run in seconds; `large` draws up to 64 MiB.
    let max_log = if large { 16 } else { 10 };
    let memory_kib = (1u32 << rng.gen_range(3..=max_log)).max(8 * parallelism)
        + rng.gen_range(0..8) * parallelism;
    let shape = Shape {
        memory_kib,
        iterations: rng.gen_range(1..=4),
        parallelism,
    };
    let algorithm =
        [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d][rng.gen_range(0..3)];
    let version = if rng.gen_bool(0.9) {
        Version::V0x13
    } else {
        Version::V0x10
    };
    let password: Vec<u8> = (0..rng.gen_range(0..80)).map(|_| rng.gen()).collect();
    let salt: Vec<u8> = (0..rng.gen_range(8..40)).map(|_| rng.gen()).collect();
    (algorithm, version, shape, password, salt)
}

#[test]
fn the_engines_agree_byte_for_byte_on_thousands_of_random_inputs() {
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    for case in 0..2_000 {
        let (algorithm, version, shape, password, salt) = random_inputs(&mut rng, case % 100 == 0);
        let tag_len = rng.gen_range(4..=64);
        let inputs = Inputs {
            algorithm,
            version,
            shape,
            password: &password,
            salt: &salt,
            secret: &[],
            ad: &[],
        };
        let (mut fast, mut reference) = (vec![0u8; tag_len], vec![0u8; tag_len]);
        Engine::Fast.compute(&inputs, &mut fast).unwrap();
        Engine::Reference.compute(&inputs, &mut reference).unwrap();
        assert_eq!(
            fast, reference,
            "seed {seed}, case {case}: {algorithm:?} {version:?} {shape:?}, {} byte password, {} byte salt",
            password.len(),
            salt.len()
        );
    }
    // Keep the test threads' memory small for the tests after.
    let small = Shape {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
    Engine::Fast.shrink(small);
    Engine::Reference.shrink(small);
}

#[test]
fn a_hash_made_by_one_engine_verifies_with_the_other() {
    let params = HashParams {
        memory_kib: 256,
        iterations: 2,
        parallelism: 1,
    };
    for (made, checked) in [
        (Engine::Fast, Engine::Reference),
        (Engine::Reference, Engine::Fast),
    ] {
        for password in [
            "correct horse battery",
            "",
            "ünïcödé pässwörd",
            &"x".repeat(1024),
        ] {
            let phc = hash_blocking(made, params, password).unwrap();
            assert!(phc.starts_with("$argon2id$v=19$m=256,t=2,p=1$"), "{phc}");
            assert!(
                verify_phc(checked, password, &phc).unwrap(),
                "{made:?} -> {checked:?}"
            );
            assert!(!verify_phc(checked, "another one", &phc).unwrap());
        }
    }
}

#[test]
fn both_engines_compute_rfc_9106_and_pass_the_start_up_check() {
    let owasp = HashParams::OWASP.shape();
    for engine in [Engine::Fast, Engine::Reference] {
        self_check(engine, owasp).unwrap();
    }
    assert!(!Engine::Fast.backend().is_empty());
}

#[test]
fn an_engine_that_computes_anything_else_is_refused() {
    let off_by_one_bit = |inputs: &Inputs<'_>, out: &mut [u8]| {
        Engine::Fast.compute(inputs, out)?;
        out[0] ^= 1;
        Ok(())
    };
    let shape = Shape {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let refused = check_with("broken", off_by_one_bit, shape).unwrap_err();
    assert!(refused.contains("RFC 9106"), "{refused}");
    // Right on the vectors, wrong on the configured cost: refused too.
    let wrong_at_cost = |inputs: &Inputs<'_>, out: &mut [u8]| {
        Engine::Fast.compute(inputs, out)?;
        if inputs.secret.is_empty() {
            out[31] ^= 0x80;
        }
        Ok(())
    };
    let refused = check_with("broken", wrong_at_cost, shape).unwrap_err();
    assert!(refused.contains("disagree"), "{refused}");
}
