//! The ceremonies: a passkey registered, listed, renamed; a login with it alone;
//! a login that it finishes after the password; a login with a username and a
//! passkey; each started on one replica and finished on another.

use reqwest::Method;
use serde_json::{json, Value};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{RequestChallengeResponse, Url};

use super::finish_login;
use super::{
    app, authenticator, credential_id, discoverable_answer, event_types, login_options, registered,
    ORIGIN,
};
use crate::both_stores;
use crate::helpers::{claims_of, Backend, TestApp, PASSWORD};

both_stores!(
    a_passkey_is_registered_managed_and_logs_in_alone,
    a_passkey_finishes_the_login_after_the_password,
    a_ceremony_started_on_one_replica_finishes_on_another,
    a_login_that_names_its_user_takes_only_their_passkey,
    an_authenticator_registered_once_is_excluded,
);

async fn a_passkey_is_registered_managed_and_logs_in_alone(backend: Backend) {
    let app = app(backend).await;
    let mut key = authenticator();
    let (user, token, done) = registered(&app, "alice", &mut key).await;
    assert_eq!(done["passkey"]["name"], "laptop");
    assert_eq!(
        done["recovery_codes"].as_array().unwrap().len(),
        10,
        "the first factor makes recovery codes: {done}"
    );
    assert!(event_types(&app, &user)
        .await
        .contains(&"authd.user.passkey_added".to_string()));
    let id = done["passkey"]["id"].as_str().unwrap().to_string();

    // Listed, and renamed; a factor like an authenticator.
    let listed: Value = app
        .authed(Method::GET, "/auth/passkeys", &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let path = format!("/auth/passkeys/{id}");
    let renamed = app
        .authed(
            Method::PATCH,
            &path,
            &token,
            Some(json!({ "name": "phone" })),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(renamed.json::<Value>().await.unwrap()["name"], "phone");
    let status: Value = app
        .authed(Method::GET, "/auth/mfa", &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["enabled"], true, "{status}");
    assert_eq!(status["factors"][0]["kind"], "passkey");

    // A login with the passkey alone: no username, no password.
    let (ceremony, options) = login_options(&app).await;
    let credential = credential_id(&app, &user).await;
    let answer = discoverable_answer(&mut key, options, &credential, &user, ORIGIN);
    let login = finish_login(&app, &ceremony, &answer).await;
    assert_eq!(login.status(), 200, "{:?}", login.text().await);
    let tokens: Value = login.json().await.unwrap();
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], user.as_str());
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].clone()),
        (json!(["pop", "mfa"]), json!("aal2"))
    );
    let listed: Value = app
        .authed(Method::GET, "/auth/passkeys", &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed[0]["sign_count"].as_i64().unwrap() >= 1, "{listed}");
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
}

/// The options of a passkey that finishes the login of `mfa_token`.
async fn second_factor_options(app: &TestApp, mfa_token: &str) -> RequestChallengeResponse {
    let started = app
        .post_json(
            "/auth/login/mfa/passkey",
            &json!({ "mfa_token": mfa_token }),
        )
        .await;
    assert_eq!(started.status(), 200, "{:?}", started.text().await);
    let started: Value = started.json().await.unwrap();
    serde_json::from_value(started["options"].clone()).unwrap()
}

async fn a_passkey_finishes_the_login_after_the_password(backend: Backend) {
    let app = app(backend).await;
    let mut key = authenticator();
    let (user, _, _) = registered(&app, "bob", &mut key).await;
    let step: Value = app.login("bob", PASSWORD).await.json().await.unwrap();
    assert_eq!(step["mfa_required"], true, "{step}");
    assert_eq!(step["methods"], json!(["passkey", "recovery_code"]));
    let mfa_token = step["mfa_token"].as_str().unwrap();
    let options = second_factor_options(&app, mfa_token).await;
    let answer = key
        .do_authentication(Url::parse(ORIGIN).unwrap(), options)
        .unwrap();
    let done = app
        .post_json(
            "/auth/login/mfa",
            &json!({ "mfa_token": mfa_token, "passkey": answer }),
        )
        .await;
    assert_eq!(done.status(), 200, "{:?}", done.text().await);
    let tokens: Value = done.json().await.unwrap();
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], user.as_str());
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].clone()),
        (json!(["pwd", "pop", "mfa"]), json!("aal2"))
    );
    // The mfa_token is spent with its ceremony.
    let again = app
        .post_json(
            "/auth/login/mfa",
            &json!({ "mfa_token": mfa_token, "passkey": answer }),
        )
        .await;
    assert_eq!(again.status(), 401);
}

async fn a_ceremony_started_on_one_replica_finishes_on_another(backend: Backend) {
    let a = app(backend).await;
    let b = a
        .replica(|c| {
            let rp = authd::authn::passkey::relying_party("localhost", ORIGIN).unwrap();
            c.mfa.webauthn = Some(std::sync::Arc::new(rp));
        })
        .await;
    let mut key = authenticator();
    let user = a.create_user("carol").await;
    let token = a.tokens("carol", PASSWORD).await.access_token;
    // Registration: options from A, the answer to B.
    let started: Value = a
        .authed(Method::POST, "/auth/passkeys/registration", &token, None)
        .await
        .json()
        .await
        .unwrap();
    let options = serde_json::from_value(started["options"].clone()).unwrap();
    let credential = key
        .do_registration(Url::parse(ORIGIN).unwrap(), options)
        .unwrap();
    let body = json!({ "ceremony": started["ceremony"], "credential": credential });
    let done = b
        .authed(Method::POST, "/auth/passkeys", &token, Some(body))
        .await;
    assert_eq!(done.status(), 201, "{:?}", done.text().await);
    // A login: options from B, the answer to A.
    let (ceremony, options) = login_options(&b).await;
    let credential = credential_id(&a, &user).await;
    let answer = discoverable_answer(&mut key, options, &credential, &user, ORIGIN);
    let login = finish_login(&a, &ceremony, &answer).await;
    assert_eq!(login.status(), 200, "{:?}", login.text().await);
}

/// The options and ceremony of a passkey login that names `login`.
async fn named_login_options(app: &TestApp, login: &str) -> (String, Value) {
    let started = app
        .post_json("/auth/login/passkey/options", &json!({ "login": login }))
        .await;
    assert_eq!(started.status(), 200, "{:?}", started.text().await);
    let started: Value = started.json().await.unwrap();
    (
        started["ceremony"].as_str().unwrap().to_string(),
        started["options"].clone(),
    )
}

async fn a_login_that_names_its_user_takes_only_their_passkey(backend: Backend) {
    let app = app(backend).await;
    let (mut alices, mut bobs) = (authenticator(), authenticator());
    let (alice, _, _) = registered(&app, "alice", &mut alices).await;
    registered(&app, "bob", &mut bobs).await;
    let credential = credential_id(&app, &alice).await;
    let finish = |ceremony: String, answer: Value| {
        let app = &app;
        async move { finish_login(app, &ceremony, &answer).await }
    };
    // Alice, named, with her passkey.
    let (ceremony, options) = named_login_options(&app, "alice").await;
    let no_list = options["publicKey"].get("allowCredentials");
    let answer = discoverable_answer(
        &mut alices,
        serde_json::from_value(options.clone()).unwrap(),
        &credential,
        &alice,
        ORIGIN,
    );
    let login = finish(ceremony, answer).await;
    assert_eq!(login.status(), 200, "{:?}", login.text().await);
    let tokens: Value = login.json().await.unwrap();
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], alice.as_str());
    assert_eq!(claims["amr"], json!(["pop", "mfa"]));
    // Bob named, Alice's passkey answers: refused. A name nobody has: the same
    // options (no credential listed, as for Alice), and no passkey logs in.
    for named in ["bob", "nobody"] {
        let (ceremony, options) = named_login_options(&app, named).await;
        assert_eq!(
            options["publicKey"].get("allowCredentials"),
            no_list,
            "the options tell who has a passkey"
        );
        let answer = discoverable_answer(
            &mut alices,
            serde_json::from_value(options).unwrap(),
            &credential,
            &alice,
            ORIGIN,
        );
        let refused = finish(ceremony, answer).await;
        assert_eq!(refused.status(), 401, "{named}: {:?}", refused.text().await);
    }
}

/// A second registration lists the user's passkeys as excluded: the browser
/// refuses to register the same authenticator twice.
async fn an_authenticator_registered_once_is_excluded(backend: Backend) {
    let app = app(backend).await;
    let mut key = authenticator();
    let (user, _, _) = registered(&app, "dave", &mut key).await;
    let credential = credential_id(&app, &user).await;
    // A second passkey needs the step-up with a factor: a login with the first.
    let (ceremony, options) = login_options(&app).await;
    let answer = discoverable_answer(&mut key, options, &credential, &user, ORIGIN);
    let login: Value = finish_login(&app, &ceremony, &answer)
        .await
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();
    let started: Value = app
        .authed(Method::POST, "/auth/passkeys/registration", token, None)
        .await
        .json()
        .await
        .unwrap();
    let excluded: Vec<&str> = started["options"]["publicKey"]["excludeCredentials"]
        .as_array()
        .map(|list| list.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(excluded, vec![credential.as_str()], "{started}");
}
