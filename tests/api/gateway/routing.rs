//! What nginx does in front of two replicas: it shares the work between them over
//! one state, keeps or makes request ids, exposes only the public routes and
//! bounds the body.

use std::collections::HashMap;

use super::Gateway;
use crate::helpers::{sign_up_body, Replica};
use crate::pg::PgServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behind_nginx_share_the_work_and_the_state() {
    let pg = PgServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let a = Replica::start("replica-a", &pg.url, None, dir.path());
    let b = Replica::start("replica-b", &pg.url, None, dir.path());
    let gateway = Gateway::start(&[&a, &b], dir.path());
    let client = reqwest::Client::new();

    let mut served: HashMap<String, usize> = HashMap::new();
    for i in 0..20 {
        let response = client
            .post(gateway.url("/auth/user"))
            .json(&sign_up_body(&format!("rr{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let instance = response.headers()["x-authd-instance"]
            .to_str()
            .unwrap()
            .to_string();
        *served.entry(instance).or_default() += 1;
    }
    assert_eq!(
        served.len(),
        2,
        "round-robin reaches both replicas: {served:?}"
    );
    assert!(served.values().all(|n| *n >= 5), "{served:?}");

    // what one replica wrote, the other refuses: no stickiness needed
    let direct = |r: &Replica| format!("http://127.0.0.1:{}/auth/user", r.port);
    let created = client
        .post(direct(&a))
        .json(&sign_up_body("shared"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let again = client
        .post(direct(&b))
        .json(&sign_up_body("shared"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    let via_gateway = client
        .post(gateway.url("/auth/user"))
        .json(&sign_up_body("shared"))
        .send()
        .await
        .unwrap();
    assert_eq!(via_gateway.status().as_u16(), 409);

    // request ids: kept when given, made by nginx otherwise, echoed by authd
    let kept = client
        .get(gateway.url("/readyz"))
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status().as_u16(), 200);
    assert_eq!(kept.headers()["x-request-id"], "trace-me-1");
    let made = client.get(gateway.url("/healthz")).send().await.unwrap();
    let id = made.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32, "nginx's $request_id: {id}");

    // only the public routes are exposed: not /metrics, not the admin API
    for path in ["/metrics", "/admin/users", "/admin/openapi.json"] {
        let hidden = client.get(gateway.url(path)).send().await.unwrap();
        assert_eq!(hidden.status().as_u16(), 404, "{path}");
        assert!(
            hidden.headers().get("x-authd-instance").is_none(),
            "{path} answered by nginx itself"
        );
    }
    let too_big = client
        .post(gateway.url("/auth/user"))
        .header("content-type", "application/json")
        .body(vec![b' '; 20 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status().as_u16(), 413);
}
