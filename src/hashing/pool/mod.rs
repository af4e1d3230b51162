//! The hashing pool: a fixed number of OS threads fed through a bounded queue.
//!
//! Hashing costs ~20 ms of a core; on the async runtime it would stall every other
//! request on that worker. The queue is bounded so that overload is answered at once
//! (503 + Retry-After) instead of growing latency until clients time out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::argon2::{hash_blocking, verify_phc, HashError, HashParams};
use super::engine::Engine;
use crate::domain::Password;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed number of hashing threads fed through a bounded queue.
#[derive(Clone)]
pub struct Hasher {
    params: HashParams,
    engine: Engine,
    queue: SyncSender<Job>,
    /// Jobs accepted and not yet finished (waiting or running).
    pending: Arc<AtomicUsize>,
    /// Hashes and verifications run so far (what a request cost in hashing).
    ran: Arc<AtomicUsize>,
    /// Requests admitted and not yet done, per client network (the fair share).
    admitted: Arc<Mutex<Admitted>>,
    /// The longest a job may wait for a thread; a later start is refused.
    max_wait: Duration,
    workers: usize,
    /// What the start-up calibration measured.
    pub calibration: Calibration,
}

/// The requests each client network has in the pool, and their total.
#[derive(Default)]
struct Admitted {
    by_client: HashMap<String, usize>,
    total: usize,
}

/// One admitted request: its place in its client's share until it is dropped.
#[must_use = "the admission lasts as long as this is held"]
pub struct Admission {
    admitted: Arc<Mutex<Admitted>>,
    client: String,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut admitted = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
        admitted.total = admitted.total.saturating_sub(1);
        if let Some(held) = admitted.by_client.get_mut(&self.client) {
            *held -= 1;
            if *held == 0 {
                admitted.by_client.remove(&self.client);
            }
        }
    }
}

/// The pool's measured speed and the queue bound derived from it.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// The slowest thread's speed: per thread, the faster of two warm hashes.
    pub hash_time: Duration,
    pub queue_bound: usize,
}

/// How the pool is sized.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    pub workers: usize,
    /// Jobs that may wait; `None`: as many as `max_wait` can absorb at the measured speed.
    pub queue_bound: Option<usize>,
    pub max_wait: Duration,
}

/// Jobs the queue may hold so that the last one still starts within `max_wait`.
pub fn queue_bound_for(max_wait: Duration, hash_time: Duration, workers: usize) -> usize {
    let per_worker = max_wait.as_secs_f64() / hash_time.as_secs_f64().max(1e-6);
    ((per_worker * workers as f64).floor() as usize).clamp(1, 100_000)
}

impl Hasher {
    /// Starts the threads. Each first hashes three times (a warm-up, so no request
    /// pays for a cold thread): the faster of its last two is its speed, and the
    /// slowest thread's speed sizes the queue.
    pub fn start(engine: Engine, params: HashParams, pool: PoolConfig) -> Self {
        let workers = pool.workers.max(1);
        let (warmed_tx, warmed) = mpsc::channel::<Duration>();
        let mut receivers = Vec::new();
        for i in 0..workers {
            let warmed_tx = warmed_tx.clone();
            let (slot_tx, slot_rx) = mpsc::channel::<Arc<Mutex<mpsc::Receiver<Job>>>>();
            receivers.push(slot_tx);
            thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    // The first hash pays for the thread's memory (page faults);
                    // the faster of the next two is the thread's speed. One timed
                    // hash during a busy start (Postgres and the broker starting
                    // beside it) measured 26-31 ms instead of 13 and sized the
                    // queue at half: 100 clients got 503s.
                    let _ = hash_blocking(engine, params, "warm-up password");
                    let fastest = (0..2)
                        .map(|_| {
                            let started = Instant::now();
                            let _ = hash_blocking(engine, params, "warm-up password");
                            started.elapsed()
                        })
                        .min()
                        .unwrap_or_default();
                    let _ = warmed_tx.send(fastest);
                    let Ok(jobs) = slot_rx.recv() else { return };
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match jobs.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // every Hasher handle is gone
                        }
                    }
                })
                .expect("spawn a hashing thread");
        }
        drop(warmed_tx);
        // One report per thread (each keeps its sender, so the channel never closes).
        let hash_time = warmed
            .iter()
            .take(workers)
            .max()
            .unwrap_or(Duration::from_millis(20));
        let queue_bound = pool
            .queue_bound
            .unwrap_or_else(|| queue_bound_for(pool.max_wait, hash_time, workers));
        let (queue, jobs) = mpsc::sync_channel::<Job>(queue_bound);
        let jobs = Arc::new(Mutex::new(jobs));
        for slot in receivers {
            let _ = slot.send(Arc::clone(&jobs));
        }
        Self {
            params,
            engine,
            queue,
            pending: Arc::new(AtomicUsize::new(0)),
            ran: Arc::new(AtomicUsize::new(0)),
            admitted: Arc::default(),
            max_wait: pool.max_wait,
            workers,
            calibration: Calibration {
                hash_time,
                queue_bound,
            },
        }
    }

    /// Refuses at once (as `hash` would) when the queue is full, before a request
    /// spends database work that a refused hash would waste: under overload most
    /// requests are refused, and a refused one should cost Postgres nothing.
    ///
    /// And shares the pool fairly between client networks: the last quarter of its
    /// capacity takes only requests of clients below their share (a sixteenth of
    /// the capacity, at least one a thread), so one address flooding sign-ups can
    /// slow logins from others but not refuse them. A lone client still gets three
    /// quarters. The admission lasts as long as the returned value is held.
    pub fn admit(&self, client: &str) -> Result<Admission, HashError> {
        let capacity = self.calibration.queue_bound + self.workers;
        let open = capacity - capacity / 4;
        let share = (capacity / 16).max(self.workers);
        let mut admitted = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
        let held = admitted.by_client.get(client).copied().unwrap_or(0);
        let reason = if self.pending() >= capacity || admitted.total >= capacity {
            Some("queue_full")
        } else if admitted.total >= open && held >= share {
            Some("client_share")
        } else {
            None
        };
        if let Some(reason) = reason {
            metrics::counter!(crate::metrics::HASH_REFUSED, "reason" => reason).increment(1);
            return Err(HashError::Overloaded);
        }
        admitted.total += 1;
        *admitted.by_client.entry(client.to_string()).or_default() += 1;
        Ok(Admission {
            admitted: Arc::clone(&self.admitted),
            client: client.to_string(),
        })
    }

    /// Jobs accepted and not yet finished: the queue depth plus the running hashes.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Hashes and verifications this pool has run since it started.
    pub fn ran(&self) -> usize {
        self.ran.load(Ordering::Relaxed)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`).
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        let params = self.params;
        let engine = self.engine;
        self.run(move || hash_blocking(engine, params, password.expose()))
            .await?
    }

    /// Checks a password against a stored PHC string, using the parameters in it.
    pub async fn verify(&self, password: Password, phc: String) -> Result<bool, HashError> {
        let (params, engine) = (self.params, self.engine);
        let verified = self
            .run(move || {
                let matches = verify_phc(engine, password.expose(), &phc);
                engine.shrink(params.shape());
                matches
            })
            .await?;
        match verified {
            // A stored hash over the cost bounds (only SQL can put one there now):
            // it matches nothing, and the operator is told.
            Err(HashError::Refused(why)) => {
                tracing::error!(
                    why,
                    "a stored password hash is over the cost bounds; not verified"
                );
                Ok(false)
            }
            other => other,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = oneshot::channel();
        let pending = Arc::clone(&self.pending);
        let ran = Arc::clone(&self.ran);
        pending.fetch_add(1, Ordering::Relaxed);
        let (enqueued, max_wait) = (Instant::now(), self.max_wait);
        let job: Job = Box::new(move || {
            let waited = enqueued.elapsed();
            metrics::histogram!(crate::metrics::HASH_WAIT).record(waited.as_secs_f64());
            // Too late to start: the caller is better served by a 503 now.
            let result = if waited > max_wait {
                metrics::counter!(crate::metrics::HASH_REFUSED, "reason" => "waited_too_long")
                    .increment(1);
                Err(HashError::Overloaded)
            } else {
                let started = Instant::now();
                let done = work();
                ran.fetch_add(1, Ordering::Relaxed);
                metrics::histogram!(crate::metrics::HASH_DURATION)
                    .record(started.elapsed().as_secs_f64());
                Ok(done)
            };
            pending.fetch_sub(1, Ordering::Relaxed);
            // A closed receiver means the request went away; nothing to report.
            let _ = tx.send(result);
        });
        match self.queue.try_send(job) {
            Ok(()) => rx.await.map_err(|_| HashError::Stopped)?,
            Err(err) => {
                self.pending.fetch_sub(1, Ordering::Relaxed);
                match err {
                    TrySendError::Full(_) => {
                        metrics::counter!(crate::metrics::HASH_REFUSED, "reason" => "queue_full")
                            .increment(1);
                        Err(HashError::Overloaded)
                    }
                    TrySendError::Disconnected(_) => Err(HashError::Stopped),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
