//! Password hashing: argon2 (`argon2`: PHC strings; `engine`: the tags, by the fast
//! engine or the reference) on a bounded pool of OS threads (`pool`), and the
//! verification of hashes brought by an import (`imported`).

mod argon2;
mod engine;
mod imported;
mod pool;

pub use self::argon2::{hash_blocking, phc_params, verify_phc, HashError, HashParams};
pub use self::engine::{self_check, Engine, Shape};
pub use self::imported::Format as ImportedFormat;
pub use self::pool::{queue_bound_for, Calibration, Hasher, PoolConfig};
