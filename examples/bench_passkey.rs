//! The latency of a login with a passkey alone (two requests: the options, then
//! the signed answer) against a login with a password (one request, one argon2
//! verification), measured interleaved on one running authd (scripts/bench-passkey
//! starts it, behind nginx, with passkeys on for `http://localhost`).
//!
//!   bench_passkey URL ROUNDS LOGINS_PER_ROUND
//!
//! LOGINS_PER_ROUND users sign up with a password only, as many more also register a
//! software passkey (webauthn-authenticator-rs, the suite's; a user with a passkey
//! has a second factor, so its password login takes two steps). Every round then
//! logs each password user in with its password and each passkey user in with its
//! passkey alone, one login at a time (the order of the two sides alternates
//! between rounds).
//! A passkey login's time is its two requests; the software authenticator's
//! signature between them (a browser's would wait for the user) is not counted.
//! Prints each round's medians, then each side's median and spread over the
//! rounds, and their ratio.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

const ORIGIN: &str = "http://localhost";
const PASSWORD: &str = "a long enough benchmark password";

struct User {
    id: String,
    credential: String,
    key: SoftPasskey,
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Value {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.expect("authd answers");
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path} answered {status}: {body}");
        body
    }

    async fn password_login(&self, name: &str) -> Duration {
        let started = Instant::now();
        let body = json!({ "login": name, "password": PASSWORD });
        let tokens = self.post("/auth/login", &body, None).await;
        let took = started.elapsed();
        assert!(tokens["access_token"].is_string(), "{tokens}");
        took
    }

    async fn passkey_login(&self, user: &mut User) -> Duration {
        let started = Instant::now();
        let begun = self
            .post("/auth/login/passkey/options", &json!({}), None)
            .await;
        let asked = started.elapsed();
        // As the browser does with a discoverable credential: the soft
        // authenticator keeps none, so it is told which one (the challenge is
        // authd's), and the answer carries the user handle.
        let mut options = begun["options"].clone();
        options["publicKey"]["allowCredentials"] =
            json!([{ "type": "public-key", "id": user.credential }]);
        let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
        let answer = user
            .key
            .do_authentication(Url::parse(ORIGIN).unwrap(), options)
            .expect("the soft authenticator signs");
        let mut answer = serde_json::to_value(answer).unwrap();
        let handle = uuid::Uuid::parse_str(&user.id).unwrap();
        answer["response"]["userHandle"] = URL_SAFE_NO_PAD.encode(handle.as_bytes()).into();
        let finished = Instant::now();
        let body = json!({ "ceremony": begun["ceremony"], "credential": answer });
        let tokens = self.post("/auth/login/passkey", &body, None).await;
        let took = asked + finished.elapsed();
        assert!(tokens["access_token"].is_string(), "{tokens}");
        took
    }

    /// Signs `name` up with a password; its id.
    async fn sign_up(&self, name: &str) -> String {
        let email = format!("{name}@bench.example");
        let body = json!({ "username": name, "email": email, "password": PASSWORD });
        let created = self.post("/auth/user", &body, None).await;
        created["id"].as_str().expect("the user's id").to_string()
    }

    async fn user_with_passkey(&self, name: String) -> User {
        let id = self.sign_up(&name).await;
        let login = json!({ "login": name, "password": PASSWORD });
        let token = self.post("/auth/login", &login, None).await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let started = self
            .post("/auth/passkeys/registration", &json!({}), Some(&token))
            .await;
        let options: CreationChallengeResponse =
            serde_json::from_value(started["options"].clone()).unwrap();
        let mut key = SoftPasskey::new(true);
        let credential = key
            .do_registration(Url::parse(ORIGIN).unwrap(), options)
            .expect("the soft authenticator registers");
        let credential = serde_json::to_value(credential).unwrap();
        let body =
            json!({ "ceremony": started["ceremony"], "credential": credential, "name": "bench" });
        self.post("/auth/passkeys", &body, Some(&token)).await;
        User {
            id,
            credential: credential["id"].as_str().unwrap().to_string(),
            key,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// The median and the range of `values`, each followed by `unit`.
fn spread(values: &mut [f64], unit: &str) -> String {
    values.sort_by(f64::total_cmp);
    let (low, high) = (values[0], values[values.len() - 1]);
    format!(
        "{:.3}{unit} (min {low:.3}{unit}, max {high:.3}{unit})",
        median(values)
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, rounds, per] = &args[..] else {
        eprintln!("usage: bench_passkey URL ROUNDS LOGINS_PER_ROUND");
        std::process::exit(2);
    };
    let (rounds, per): (usize, usize) = (rounds.parse().unwrap(), per.parse().unwrap());
    let client = Client {
        http: reqwest::Client::new(),
        base: base.trim_end_matches('/').to_string(),
    };
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (mut users, mut plain) = (Vec::with_capacity(per), Vec::with_capacity(per));
    for i in 0..per {
        users.push(
            client
                .user_with_passkey(format!("pk{}x{i}", &tag[..8]))
                .await,
        );
        let name = format!("pw{}x{i}", &tag[..8]);
        client.sign_up(&name).await;
        plain.push(name);
    }
    println!(
        "{per} users with a password, {per} with a passkey; {rounds} rounds of one login per user"
    );
    let (mut passwords, mut passkeys, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut all_pw, mut all_pk) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (mut pw, mut pk) = (Vec::with_capacity(per), Vec::with_capacity(per));
        for side in [round % 2, 1 - round % 2] {
            if side == 0 {
                for name in &plain {
                    pw.push(ms(client.password_login(name).await));
                }
            } else {
                for user in users.iter_mut() {
                    pk.push(ms(client.passkey_login(user).await));
                }
            }
        }
        all_pw.extend_from_slice(&pw);
        all_pk.extend_from_slice(&pk);
        let (pw, pk) = (median(&mut pw), median(&mut pk));
        println!("round {round}: password {pw:.2} ms, passkey {pk:.2} ms (medians), passkey/password {:.3}", pk / pw);
        passwords.push(pw);
        passkeys.push(pk);
        ratios.push(pk / pw);
    }
    println!(
        "password login, median of the rounds' medians: {}",
        spread(&mut passwords, " ms")
    );
    println!(
        "passkey login (options + finish), the same: {}",
        spread(&mut passkeys, " ms")
    );
    let p99 = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[(v.len() * 99 / 100).min(v.len() - 1)]
    };
    println!(
        "p99 of every login: password {:.2} ms, passkey {:.2} ms",
        p99(&mut all_pw),
        p99(&mut all_pk)
    );
    println!("passkey/password per round: {}", spread(&mut ratios, ""));
}
