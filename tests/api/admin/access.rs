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
