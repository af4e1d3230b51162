//! The machine's argon2id limit: one hash loop per CPU, authd's own hash function
//! and engine (`--argon2-engine`, the fast one by default), the given parameters.
//! A sign-up rate is judged against this number.

use std::time::{Duration, Instant};

use authd::hashing::{hash_blocking, HashParams};
use serde_json::{json, Value};

use crate::{secs, Args};

pub fn run(args: &Args) -> Result<Value, String> {
    let params = HashParams {
        memory_kib: args.argon2_memory_kib,
        iterations: args.argon2_iterations,
        parallelism: args.argon2_parallelism,
    };
    params.validate()?;
    let engine = args.argon2_engine;
    let threads = authd::config::available_cpus();
    let duration = secs(args.duration.unwrap_or(10.0));
    let started = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let loops: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut n = 0u64;
                    while started.elapsed() < duration {
                        hash_blocking(engine, params, "correct horse battery staple")
                            .expect("hash");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        loops
            .into_iter()
            .map(|h| h.join().expect("hash loop"))
            .collect()
    });
    let elapsed = started
        .elapsed()
        .max(Duration::from_millis(1))
        .as_secs_f64();
    let total: u64 = counts.iter().sum();
    Ok(json!({
        "mode": "hash-limit",
        "engine": engine.name(),
        "backend": engine.backend(),
        "argon2": { "m_kib": params.memory_kib, "t": params.iterations, "p": params.parallelism },
        "threads": threads,
        "hashes": total,
        "elapsed_s": elapsed,
        "hashes_per_s": total as f64 / elapsed,
        "ms_per_hash_per_thread": elapsed * 1000.0 * threads as f64 / total.max(1) as f64,
    }))
}

pub fn table(report: &Value) -> String {
    format!(
        "argon2id m={} t={} p={}, {} engine ({}): {} threads, {} hashes in {:.2} s = {:.1} hashes/s ({:.1} ms per hash per thread)",
        report["argon2"]["m_kib"],
        report["argon2"]["t"],
        report["argon2"]["p"],
        report["engine"].as_str().unwrap_or_default(),
        report["backend"].as_str().unwrap_or_default(),
        report["threads"],
        report["hashes"],
        report["elapsed_s"].as_f64().unwrap_or_default(),
        report["hashes_per_s"].as_f64().unwrap_or_default(),
        report["ms_per_hash_per_thread"].as_f64().unwrap_or_default(),
    )
}
