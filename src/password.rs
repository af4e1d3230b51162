//! argon2id on a dedicated, bounded pool of OS threads.
//!
//! Hashing costs ~20 ms of a core; on the async runtime it would stall every other
//! request on that worker. The queue is bounded so that overload is answered at once
//! (503 + Retry-After) instead of growing latency until clients time out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::oneshot;

use crate::domain::Password;

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

    /// Checks the parameters the way argon2 will, so a bad setting fails at start-up.
    pub fn validate(&self) -> Result<Params, String> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| format!("invalid argon2 parameters {self:?}: {e}"))
    }

    fn argon2(&self) -> Argon2<'static> {
        let params = self.validate().expect("validated at start-up");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
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
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed number of hashing threads fed through a bounded queue.
#[derive(Clone)]
pub struct Hasher {
    params: HashParams,
    queue: SyncSender<Job>,
    /// Jobs accepted and not yet finished (waiting or running).
    pending: Arc<AtomicUsize>,
}

impl Hasher {
    /// Starts `workers` threads; at most `queue_bound` jobs wait beyond those running.
    pub fn start(params: HashParams, workers: usize, queue_bound: usize) -> Self {
        let (queue, jobs) = mpsc::sync_channel::<Job>(queue_bound);
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..workers.max(1) {
            let jobs = Arc::clone(&jobs);
            thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job.
                    let job = match jobs.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // every Hasher handle is gone
                    }
                })
                .expect("spawn a hashing thread");
        }
        Self {
            params,
            queue,
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Jobs accepted and not yet finished: the queue depth plus the running hashes.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`).
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        let params = self.params;
        self.run(move || hash_blocking(params, password.expose()))
            .await?
    }

    /// Checks a password against a stored PHC string, using the parameters in it.
    pub async fn verify(&self, password: Password, phc: String) -> Result<bool, HashError> {
        self.run(move || verify_phc(password.expose(), &phc))
            .await?
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = oneshot::channel();
        let pending = Arc::clone(&self.pending);
        pending.fetch_add(1, Ordering::Relaxed);
        let job: Job = Box::new(move || {
            let result = work();
            pending.fetch_sub(1, Ordering::Relaxed);
            // A closed receiver means the request went away; nothing to report.
            let _ = tx.send(result);
        });
        match self.queue.try_send(job) {
            Ok(()) => rx.await.map_err(|_| HashError::Stopped),
            Err(err) => {
                self.pending.fetch_sub(1, Ordering::Relaxed);
                match err {
                    TrySendError::Full(_) => Err(HashError::Overloaded),
                    TrySendError::Disconnected(_) => Err(HashError::Stopped),
                }
            }
        }
    }
}

/// One argon2id hash with a fresh salt, on the calling thread. The pool runs this;
/// so does `authd-load --mode hash-limit` to measure the machine's limit.
pub fn hash_blocking(params: HashParams, password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    params
        .argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Failed(e.to_string()))
}

/// Verifies `password` against a PHC string; a malformed string is an error.
pub fn verify_phc(password: &str, phc: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(|e| HashError::Failed(e.to_string()))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
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

    const CHEAP: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn pw(s: &str) -> Password {
        Password::parse(s.to_string()).unwrap()
    }

    #[tokio::test]
    async fn hash_is_an_argon2id_phc_string_with_the_configured_params() {
        let hasher = Hasher::start(CHEAP, 1, 4);
        let phc = hasher.hash(pw("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert_eq!(phc_params(&phc), Some(CHEAP));
        assert!(verify_phc("correct horse", &phc).unwrap());
        assert!(!verify_phc("wrong horse", &phc).unwrap());
    }

    #[tokio::test]
    async fn same_password_gets_a_new_salt_each_time() {
        let hasher = Hasher::start(CHEAP, 1, 4);
        let a = hasher.hash(pw("correct horse")).await.unwrap();
        let b = hasher.hash(pw("correct horse")).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        // One worker blocked on a job and a queue of one filled: the next is refused.
        let hasher = Hasher::start(CHEAP, 1, 1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel();
        let blocked = {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                hasher
                    .run(move || {
                        started_tx.send(()).unwrap();
                        wait.recv().unwrap();
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        let (ran_tx, ran_rx) = oneshot::channel();
        let filler: Job = Box::new(move || ran_tx.send(()).unwrap());
        assert!(
            hasher.queue.try_send(filler).is_ok(),
            "the queue holds one job"
        );
        assert!(matches!(
            hasher.hash(pw("correct horse")).await,
            Err(HashError::Overloaded)
        ));
        release.send(()).unwrap();
        blocked.await.unwrap().unwrap();
        ran_rx
            .await
            .expect("the queued job runs once the worker is free");
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
