//! Benchmark of the outbox relay (run it with scripts/bench-relay, which starts a
//! Postgres and a Tansu broker for it):
//! 1. delivery latency: real sign-ups through HTTP with the relay on; for every
//!    event, the time from its write (just before commit) to the broker's ack, as
//!    the relay records it in `authd_outbox_delivery_seconds`;
//! 2. throughput: a pre-filled outbox drained by one relay, then by two.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authd::config::{Config, StoreConfig};
use authd::events::kafka::KafkaConfig;
use authd::events::relay::{Relay, RelayConfig};
use authd::hashing::HashParams;
use authd::metrics::{BATCH_SECONDS, DELIVERY_SECONDS};
use authd::startup::Application;
use authd::store::Store;
use clap::Parser;
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use tokio::sync::watch;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    #[arg(long)]
    brokers: String,
    /// Sign-ups whose delivery latency is measured.
    #[arg(long, default_value_t = 1000)]
    signups: usize,
    /// Concurrent sign-up clients.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Outbox rows pre-filled for the throughput runs.
    #[arg(long, default_value_t = 50_000)]
    prefill: i64,
    /// Rows a relay claims per transaction.
    #[arg(long, default_value_t = 500)]
    batch: i64,
}

/// Keeps every value recorded into the relay's histograms, by name.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<HashMap<String, Vec<f64>>>>);

struct Series(Capture, String);

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        self.0
             .0
            .lock()
            .unwrap()
            .entry(self.1.clone())
            .or_default()
            .push(value);
    }
}

impl Capture {
    fn take(&self, name: &str) -> Vec<f64> {
        let mut values = self.0.lock().unwrap().remove(name).unwrap_or_default();
        values.sort_by(f64::total_cmp);
        values
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Series(self.clone(), key.name().to_string())))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

async fn wait_empty(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    loop {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(pool)
            .await?;
        if n == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let capture = Capture::default();
    metrics::set_global_recorder(capture.clone()).expect("first recorder");
    let relay = RelayConfig {
        kafka: KafkaConfig {
            brokers: args.brokers.clone(),
            topic: "authd.user-events".into(),
            partitions: 3,
            replication: 1,
            properties: Default::default(),
        },
        batch: args.batch,
        poll: Duration::from_secs(2),
    };
    let config = Config {
        listen: "127.0.0.1:0".parse()?,
        hash: HashParams::OWASP,
        hash_pool: authd::hashing::PoolConfig {
            workers: authd::config::available_cpus(),
            queue_bound: Some(1024),
            max_wait: Duration::from_secs(30),
        },
        relay: Some(relay.clone()),
        instance_id: "test".into(),
        ..Config::defaults(StoreConfig::Postgres {
            url: args.database_url.clone(),
        })
    };
    let machine = format!("{} CPUs", authd::config::available_cpus());

    // 1. delivery latency of real sign-ups
    let app = Application::build(config.clone()).await?;
    let pool = sqlx::PgPool::connect(&args.database_url).await?;
    let url = format!("http://{}/auth/user", app.local_addr());
    let (stop_app, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..args.concurrency {
        let (client, url, run) = (client.clone(), url.clone(), run.clone());
        let n = args.signups / args.concurrency + usize::from(c < args.signups % args.concurrency);
        clients.spawn(async move {
            for i in 0..n {
                let name = format!("b{run}_{c}_{i}");
                let body = serde_json::json!({ "username": name, "email": format!("{name}@example.com"), "password": "correct horse battery" });
                let status = client.post(&url).json(&body).send().await?.status();
                anyhow::ensure!(status == 201, "sign-up answered {status}");
            }
            anyhow::Ok(())
        });
    }
    for result in clients.join_all().await {
        result?;
    }
    wait_empty(&pool).await?;
    let elapsed = started.elapsed();
    let _ = stop_app.send(());
    server.await??;
    if std::env::var_os("BENCH_DEBUG").is_some() {
        let raw = capture.0.lock().unwrap()[BATCH_SECONDS].clone();
        let slow: Vec<_> = raw
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0.1)
            .map(|(i, v)| (i, (v * 1e3) as u64))
            .collect();
        eprintln!("slow passes (index, ms) of {}: {slow:?}", raw.len());
    }
    let latencies = capture.take(DELIVERY_SECONDS);
    let passes = capture.take(BATCH_SECONDS);
    println!("machine: {machine}; Postgres 15 and Tansu on loopback; argon2id m=19456 t=2 p=1");
    println!(
        "delivery latency, commit -> broker ack, {} sign-ups ({} clients, {:.1} s): median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        args.concurrency,
        elapsed.as_secs_f64(),
        percentile(&latencies, 0.5) * 1e3,
        percentile(&latencies, 0.9) * 1e3,
        percentile(&latencies, 0.99) * 1e3,
        latencies.last().copied().unwrap_or_default() * 1e3,
    );
    println!(
        "  relay passes that delivered: {}, median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        passes.len(),
        percentile(&passes, 0.5) * 1e3,
        percentile(&passes, 0.99) * 1e3,
        passes.last().copied().unwrap_or_default() * 1e3,
    );

    // 2. throughput from a pre-filled outbox, one relay then two
    for relays in [1, 2] {
        sqlx::query(PREFILL)
            .bind(args.prefill)
            .execute(&pool)
            .await?;
        let (stop, stop_rx) = watch::channel(false);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..relays {
            let own = Store::connect(&config.store, 2).await?;
            let wake = own.outbox_wakeups();
            let relay = Relay::new(own, relay.clone(), wake);
            tasks.spawn(relay.run(stop_rx.clone()));
        }
        wait_empty(&pool).await?;
        let elapsed = started.elapsed();
        let _ = stop.send(true);
        tasks.join_all().await;
        println!(
            "relay throughput, {} relay(s), batch {}: {} events in {:.2} s = {:.0} events/s",
            relays,
            args.batch,
            args.prefill,
            elapsed.as_secs_f64(),
            args.prefill as f64 / elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// N realistic `authd.user.created` rows, each for a new user, in its proper lane.
const PREFILL: &str = r#"
INSERT INTO outbox (id, aggregate_id, lane, event_type, payload, created_at)
SELECT e, u, (get_byte(uuid_send(u), 14) * 256 + get_byte(uuid_send(u), 15)) % 32,
       'authd.user.created',
       jsonb_build_object('specversion', '1.0', 'id', e, 'source', 'authd',
         'type', 'authd.user.created', 'subject', u, 'time', now(),
         'datacontenttype', 'application/json',
         'data', jsonb_build_object('id', u, 'username', 'user_' || n,
           'email', 'user_' || n || '@example.com', 'created_at', now())),
       now()
FROM (SELECT gen_random_uuid() AS e, gen_random_uuid() AS u, n FROM generate_series(1, $1) AS n) s
"#;
