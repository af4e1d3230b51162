//! The pool's bounds, proved by blocking its workers.

use super::*;
use crate::hashing::phc_params;
use crate::hashing::Engine;

const CHEAP: HashParams = HashParams {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

fn pool(workers: usize, queue: usize) -> PoolConfig {
    PoolConfig {
        workers,
        queue_bound: Some(queue),
        max_wait: Duration::from_secs(30),
    }
}

/// Occupies the pool's one worker until `release` is sent.
async fn block_the_worker(
    hasher: &Hasher,
) -> (
    std::sync::mpsc::Sender<()>,
    tokio::task::JoinHandle<Result<(), HashError>>,
) {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (started_tx, started_rx) = oneshot::channel();
    let hasher = hasher.clone();
    let blocked = tokio::spawn(async move {
        hasher
            .run(move || {
                started_tx.send(()).unwrap();
                wait.recv().unwrap();
            })
            .await
    });
    started_rx.await.unwrap();
    (release, blocked)
}

fn pw(s: &str) -> Password {
    Password::parse(s.to_string()).unwrap()
}
#[tokio::test]
async fn hash_is_an_argon2id_phc_string_with_the_configured_params() {
    let hasher = Hasher::start(Engine::Fast, CHEAP, pool(1, 4));
    let phc = hasher.hash(pw("correct horse")).await.unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
    assert_eq!(phc_params(&phc), Some(CHEAP));
    assert!(verify_phc(Engine::Fast, "correct horse", &phc).unwrap());
    assert!(!verify_phc(Engine::Fast, "wrong horse", &phc).unwrap());
}

#[tokio::test]
async fn same_password_gets_a_new_salt_each_time() {
    let hasher = Hasher::start(Engine::Fast, CHEAP, pool(1, 4));
    let a = hasher.hash(pw("correct horse")).await.unwrap();
    let b = hasher.hash(pw("correct horse")).await.unwrap();
    assert_ne!(a, b);
}

#[tokio::test]
async fn a_full_queue_refuses_at_once() {
    // One worker blocked on a job and a queue of one filled: the next is refused.
    let hasher = Hasher::start(Engine::Fast, CHEAP, pool(1, 1));
    let (release, blocked) = block_the_worker(&hasher).await;
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

#[tokio::test]
async fn admit_refuses_once_the_threads_and_the_queue_are_taken() {
    let hasher = Hasher::start(Engine::Fast, CHEAP, pool(1, 1));
    assert!(hasher.admit("c").is_ok(), "an idle pool admits");
    let (release, running) = block_the_worker(&hasher).await;
    assert!(hasher.admit("c").is_ok(), "the queue has room for one");
    let (filler_tx, filler_rx) = oneshot::channel::<()>();
    let queued = {
        let hasher = hasher.clone();
        tokio::spawn(async move {
            let r = hasher
                .run(move || {
                    let _ = filler_tx.send(());
                })
                .await;
            r.is_ok()
        })
    };
    while hasher.pending() < 2 {
        tokio::task::yield_now().await;
    }
    assert!(matches!(hasher.admit("c"), Err(HashError::Overloaded)));
    release.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert!(queued.await.unwrap());
    filler_rx.await.unwrap();
    assert!(hasher.admit("c").is_ok(), "room again once they ran");
}

#[tokio::test]
async fn a_job_that_waited_past_its_budget_is_refused_not_run() {
    let hasher = Hasher::start(
        Engine::Fast,
        CHEAP,
        PoolConfig {
            workers: 1,
            queue_bound: Some(4),
            max_wait: Duration::from_millis(50),
        },
    );
    let (release, blocked) = block_the_worker(&hasher).await;
    let late = {
        let hasher = hasher.clone();
        tokio::spawn(async move { hasher.hash(pw("correct horse")).await })
    };
    tokio::time::sleep(Duration::from_millis(120)).await;
    release.send(()).unwrap();
    blocked.await.unwrap().unwrap();
    assert!(matches!(late.await.unwrap(), Err(HashError::Overloaded)));
    assert_eq!(hasher.pending(), 0);
}

#[test]
fn the_queue_holds_what_the_wait_budget_absorbs() {
    let ms = Duration::from_millis;
    assert_eq!(queue_bound_for(ms(1500), ms(15), 1), 100);
    assert_eq!(queue_bound_for(ms(1500), ms(15), 2), 200);
    assert_eq!(queue_bound_for(ms(10), ms(15), 1), 1, "never zero");
}

#[tokio::test]
async fn start_up_calibrates_on_a_warm_up_hash() {
    let hasher = Hasher::start(
        Engine::Fast,
        CHEAP,
        PoolConfig {
            workers: 2,
            queue_bound: None,
            max_wait: Duration::from_secs(1),
        },
    );
    let c = hasher.calibration;
    assert!(c.hash_time > Duration::ZERO);
    assert_eq!(
        c.queue_bound,
        queue_bound_for(Duration::from_secs(1), c.hash_time, 2)
    );
}

#[tokio::test]
async fn one_client_cannot_take_the_last_quarter_of_the_pool() {
    // Capacity 16 (15 queued + 1 thread): a client's share is 1, and beyond 12
    // admitted requests only clients under their share get in.
    let hasher = Hasher::start(Engine::Fast, CHEAP, pool(1, 15));
    let flood: Vec<_> = (0..12).map(|_| hasher.admit("flooder").unwrap()).collect();
    assert!(
        matches!(hasher.admit("flooder"), Err(HashError::Overloaded)),
        "the flooder is held at three quarters"
    );
    let others: Vec<_> = (0..4)
        .map(|i| hasher.admit(&format!("user-{i}")).unwrap())
        .collect();
    assert!(
        matches!(hasher.admit("user-9"), Err(HashError::Overloaded)),
        "the capacity still bounds everyone"
    );
    drop(others);
    let again = hasher.admit("user-0");
    assert!(again.is_ok(), "dropped admissions give their places back");
    drop((flood, again));
    let lone: Vec<_> = (0..12).map(|_| hasher.admit("lone").unwrap()).collect();
    assert_eq!(lone.len(), 12, "all places came back");
}
