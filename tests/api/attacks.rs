//! The attacks of the hostile review (issue 22), each performed as an attacker
//! would: every test here failed on the code before its fix, and passes now.
//! SECURITY.md has the table of what each achieved before and gets now.
//!
//! One attack a file: takeover (a stolen access token), guessing (parallel
//! guesses, lock-outs), hash_cost (argon2 time bought without credentials, absurd
//! imported hashes), discovery (the Host header), idempotency (keys without
//! bound), files (modes), secrets (signing keys at rest), and listeners (what the
//! review found besides). A second review found the rest: flood (sign-ups filling
//! the pool, mail and event floods), proxy (a dual-stack gateway), thief (a stale
//! token evicting the owner, a reset link outliving an email change), lockout
//! (strangers locking the owner's changes and forgot, the email oracle), and more
//! in hash_cost (a good reset token sent at once) and discovery (/metrics). The
//! review of multi-factor login: second_factor.

mod discovery;
mod files;
mod flood;
mod guessing;
mod hash_cost;
mod idempotency;
mod listeners;
mod lockout;
mod proxy;
mod second_factor;
mod secrets;
mod takeover;
mod thief;

use serde_json::json;

use crate::helpers::TestApp;

/// A login as sent from `client` (through the trusted proxy 127.0.0.1).
async fn login_from(app: &TestApp, client: &str, login: &str, password: &str) -> u16 {
    app.client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", client)
        .json(&json!({ "login": login, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sends every request at once and returns their statuses, in order.
async fn at_once(requests: impl Iterator<Item = reqwest::RequestBuilder>) -> Vec<u16> {
    let sent: Vec<_> = requests
        .map(|request| tokio::spawn(async move { request.send().await.unwrap().status().as_u16() }))
        .collect();
    let mut statuses = Vec::with_capacity(sent.len());
    for handle in sent {
        statuses.push(handle.await.unwrap());
    }
    statuses
}

/// Trusts 127.0.0.1 as the proxy, so each request says its client address.
fn behind_proxy(c: &mut authd::config::Config) {
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}
