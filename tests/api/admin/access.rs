//! Who gets in: the configured admin tokens, as bearer tokens, on the admin
//! listener only; and the admin API's own OpenAPI document.

use reqwest::Method;

use super::{admin, admin_app, admin_as, ok_json, OTHER, TOKEN};
use crate::both_stores;
use crate::helpers::{assert_valid_openapi, problem, Backend, PASSWORD};

both_stores!(the_admin_api_refuses_a_missing_or_wrong_token_and_is_not_on_the_service_port);

async fn the_admin_api_refuses_a_missing_or_wrong_token_and_is_not_on_the_service_port(
    backend: Backend,
) {
    let app = admin_app(backend).await;
    let url = format!("http://{}/admin/users", app.admin_addr.unwrap());
    let none = app.client.get(&url).send().await.unwrap();
    assert!(none.headers().contains_key("www-authenticate"));
    problem(none, 401).await;
    for wrong in [&TOKEN[..TOKEN.len() - 1], "x", &format!("{TOKEN}x")] {
        problem(
            admin_as(&app, wrong, Method::GET, "/admin/users", None).await,
            401,
        )
        .await;
    }
    let basic = app
        .client
        .get(&url)
        .header("authorization", format!("Basic {TOKEN}"))
        .send()
        .await
        .unwrap();
    problem(basic, 401).await;
    // A user's access token is no admin token.
    app.create_user("mallory").await;
    let user = app.tokens("mallory", PASSWORD).await;
    problem(
        admin_as(&app, &user.access_token, Method::GET, "/admin/users", None).await,
        401,
    )
    .await;
    // Both admins get in; the service port knows no /admin.
    ok_json(
        admin_as(&app, OTHER, Method::GET, "/admin/users", None).await,
        200,
    )
    .await;
    ok_json(admin(&app, Method::GET, "/admin/users", None).await, 200).await;
    let on_service = app
        .client
        .get(app.url("/admin/users"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    problem(on_service, 404).await;
    // Its own document, valid OpenAPI 3.1 with every admin route.
    let doc = ok_json(
        admin(&app, Method::GET, "/admin/openapi.json", None).await,
        200,
    )
    .await;
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/admin/users",
        "/admin/users/{id}",
        "/admin/users/{id}/lock",
        "/admin/users/{id}/unlock",
        "/admin/users/{id}/logout",
        "/admin/users/{id}/sessions",
        "/admin/users/{id}/events",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert_valid_openapi(&doc);
}

/// Every route of the admin document, with no token, a wrong one and a user's
/// access token: 401, and nothing changed. Authentication sits on the router, so
/// a handler added without it is caught here, not in production.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_admin_route_refuses_without_an_admin_token() {
    let app = admin_app(Backend::Postgres).await;
    let id = app.create_user("target").await;
    let user = app.tokens("target", PASSWORD).await.access_token;
    let doc = ok_json(
        admin(&app, Method::GET, "/admin/openapi.json", None).await,
        200,
    )
    .await;
    let state = || async {
        let counts = [
            "SELECT COUNT(*) FROM users",
            "SELECT COUNT(*) FROM users WHERE locked_at IS NOT NULL",
            "SELECT COUNT(*) FROM outbox",
            "SELECT COUNT(*) FROM refresh_families WHERE revoked_at IS NULL",
        ];
        let mut values = Vec::new();
        for sql in counts {
            values.push(app.scalar(sql).await);
        }
        values
    };
    let before = state().await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let url = format!(
                "http://{}{}",
                app.admin_addr.unwrap(),
                path.replace("{id}", &id)
            );
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = serde_json::json!({
                "username": "intruder", "email": "intruder@example.com", "password": PASSWORD
            });
            for token in [None, Some(&TOKEN[1..]), Some(user.as_str())] {
                let mut request = app.client.request(method.clone(), &url).json(&body);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let answer = request.send().await.unwrap();
                assert_eq!(answer.status(), 401, "{method} {path} with {token:?}");
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 3 * 10,
        "only {checked} requests: is every route documented?"
    );
    assert_eq!(state().await, before, "a refused request changed something");
}
