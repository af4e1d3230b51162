//! Several replicas on one Postgres.

use authd::config::StoreConfig;
use authd::hashing::PoolConfig;
use authd::startup::Application;

use crate::helpers::test_config;
use crate::pg::PgServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once_and_all_serve() {
    let pg = PgServer::start().await;
    let mut config = test_config(StoreConfig::Postgres {
        url: pg.url.clone(),
    });
    config.pool_size = 2;
    config.hash_pool = PoolConfig {
        workers: 1,
        queue_bound: Some(4),
        max_wait: std::time::Duration::from_secs(30),
    };
    let builds: Vec<_> = (0..4)
        .map(|_| tokio::spawn(Application::build(config.clone())))
        .collect();
    let mut addrs = Vec::new();
    for build in builds {
        let app = build.await.unwrap().expect("every replica starts");
        addrs.push(app.local_addr());
        tokio::spawn(app.run_until_stopped(std::future::pending()));
    }
    let client = reqwest::Client::new();
    for (i, addr) in addrs.iter().enumerate() {
        let response = client
            .post(format!("http://{addr}/auth/user"))
            .json(&serde_json::json!({
                "username": format!("replica{i}"),
                "email": format!("replica{i}@example.com"),
                "password": "long enough",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }
    // what one replica wrote, another refuses as a duplicate
    let response = client
        .post(format!("http://{}/auth/user", addrs[3]))
        .json(&serde_json::json!({ "username": "replica0", "email": "new@example.com", "password": "long enough" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, authd_migrations());
}

fn authd_migrations() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count()
}
