//! The user pool of the login and refresh modes, made before the measured run.

use std::sync::Arc;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::run::{self, Kind};
use crate::{Args, Mode};

/// Pool logins in flight at once (under authd's default per-client limit of 50).
const LOGINS_AT_ONCE: usize = 16;
/// Tries of each pool login refused with 429 or 503.
const LOGIN_TRIES: usize = 20;

/// Signs up the pool (and, for refresh, logs each user in once for its first token).
pub async fn prepare(args: &Args) -> anyhow::Result<Kind> {
    let users = match args.mode {
        Mode::Refresh => args.concurrency as u64,
        _ => args.users.unwrap_or(args.concurrency.max(100) as u64),
    };
    let prefix = run::prefix(args);
    // Not measured: no deadline, a generous timeout, and 503s retried.
    let mut setup = args.clone();
    setup.duration = None;
    setup.timeout = setup.timeout.max(60.0);
    setup.retry_503 = true;
    let signed_up = run::run_with(
        &setup,
        Kind::Signup,
        prefix.clone(),
        args.concurrency.min(users as usize).max(1),
        users,
    )
    .await;
    let created = signed_up.statuses.get(&201).copied().unwrap_or(0);
    if created != users {
        bail!(
            "{created} of {users} pool sign-ups succeeded (statuses {:?}, errors {:?})",
            signed_up.statuses,
            signed_up.errors
        );
    }
    let names: Vec<String> = (0..users).map(|i| format!("{prefix}_{i}")).collect();
    eprintln!(
        "authd-load: {users} users signed up for the {:?} run",
        args.mode
    );
    if args.mode != Mode::Refresh {
        return Ok(Kind::Login(Arc::new(names)));
    }
    // A few logins at a time, each retried on 429/503 after its Retry-After: the
    // pool's logins come from one address, and authd counts logins in flight from
    // one client network against AUTHD_LOGIN_MAX_FAILURES_PER_CLIENT.
    let client = reqwest::Client::new();
    let url = format!("{}/auth/login", args.url.trim_end_matches('/'));
    let gate = Arc::new(tokio::sync::Semaphore::new(LOGINS_AT_ONCE));
    let mut logins = tokio::task::JoinSet::new();
    for (i, name) in names.into_iter().enumerate() {
        let (client, url, gate) = (client.clone(), url.clone(), Arc::clone(&gate));
        let body = json!({ "login": name, "password": args.password });
        logins.spawn(async move {
            let _turn = gate.acquire_owned().await?;
            for _ in 0..LOGIN_TRIES {
                let response = client.post(&url).json(&body).send().await?;
                let status = response.status();
                if status.as_u16() == 429 || status.as_u16() == 503 {
                    tokio::time::sleep(run::retry_after(response.headers())).await;
                    continue;
                }
                if !status.is_success() {
                    bail!("login of {name} answered {status}");
                }
                let tokens: Value = response.json().await?;
                let token = tokens["refresh_token"]
                    .as_str()
                    .context("no refresh_token in the login answer")?;
                return Ok((i, token.to_string()));
            }
            bail!("login of {name}: still refused after {LOGIN_TRIES} tries")
        });
    }
    let mut tokens = vec![String::new(); args.concurrency];
    while let Some(login) = logins.join_next().await {
        let (i, token) = login??;
        tokens[i] = token;
    }
    Ok(Kind::Refresh(Arc::new(tokens)))
}
