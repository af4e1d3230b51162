//! Password hashing: argon2 (`argon2`) on a bounded pool of OS threads (`pool`).

mod argon2;
mod pool;

pub use self::argon2::{hash_blocking, phc_params, verify_phc, HashError, HashParams};
pub use self::pool::{queue_bound_for, Calibration, Hasher, PoolConfig};
