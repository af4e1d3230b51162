//! The request loop: C workers share one keep-alive client and a request counter
//! (what they saw: `result.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::result::RunResult;
use crate::{secs, Args};

fn run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// The seconds a 503 or a 409 asks us to wait (Retry-After in seconds), 1 when absent.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(Duration::from_secs(1), secs)
}

fn error_kind(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else if err.is_body() || err.is_decode() {
        "body"
    } else {
        "other"
    }
}

/// What each request does.
#[derive(Clone)]
pub enum Kind {
    /// A unique sign-up per request.
    Signup,
    /// Logs in the users of the pool, in turn.
    Login(Arc<Vec<String>>),
    /// Each worker refreshes its own token chain (one refresh token per worker).
    Refresh(Arc<Vec<String>>),
}

impl Kind {
    fn path(&self) -> &'static str {
        match self {
            Kind::Signup => "/auth/user",
            Kind::Login(_) => "/auth/login",
            Kind::Refresh(_) => "/auth/token",
        }
    }

    fn success(&self) -> u16 {
        match self {
            Kind::Signup => 201,
            _ => 200,
        }
    }
}

/// The run's user-name prefix: given, or a random run id (reruns never collide).
pub fn prefix(args: &Args) -> String {
    args.prefix
        .clone()
        .unwrap_or_else(|| format!("l{}", run_id()))
}

pub async fn run_with(
    args: &Args,
    kind: Kind,
    prefix: String,
    concurrency: usize,
    requests: u64,
) -> RunResult {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()
        .expect("http client");
    let url: Arc<str> = format!("{}{}", args.url.trim_end_matches('/'), kind.path()).into();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + secs(d));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let refresh_token = match &kind {
            Kind::Refresh(tokens) => tokens.get(w).cloned(),
            _ => None,
        };
        let worker = Worker {
            kind: kind.clone(),
            refresh_token,
            client: client.clone(),
            url: Arc::clone(&url),
            prefix: prefix.clone(),
            password: args.password.clone(),
            timeout: secs(args.timeout),
            retry_503: args.retry_503 || args.retry,
            retry: args.retry,
            attempt_timeout: secs(args.attempt_timeout.unwrap_or(args.timeout)),
            next: Arc::clone(&next),
            limit: if deadline.is_some() {
                u64::MAX
            } else {
                requests
            },
            deadline,
            started,
            rate: args.rate,
        };
        workers.spawn(worker.run());
    }
    let mut result = RunResult::empty();
    while let Some(part) = workers.join_next().await {
        result.merge(part.expect("worker"));
    }
    result.elapsed = started.elapsed();
    result
}

struct Worker {
    kind: Kind,
    /// The worker's current refresh token (refresh mode).
    refresh_token: Option<String>,
    client: reqwest::Client,
    url: Arc<str>,
    prefix: String,
    password: String,
    timeout: Duration,
    retry_503: bool,
    /// Idempotency keys, and retries of transport errors and in-progress answers.
    retry: bool,
    attempt_timeout: Duration,
    next: Arc<AtomicU64>,
    limit: u64,
    deadline: Option<Instant>,
    started: Instant,
    /// Requests per second, all workers together (--rate).
    rate: Option<f64>,
}

impl Worker {
    fn body(&self, i: u64) -> Option<Value> {
        Some(match &self.kind {
            Kind::Signup => {
                let name = format!("{}_{i}", self.prefix);
                json!({ "username": name, "email": format!("{name}@example.com"), "password": self.password })
            }
            Kind::Login(users) => {
                let login = &users[(i % users.len() as u64) as usize];
                json!({ "login": login, "password": self.password })
            }
            Kind::Refresh(_) => json!({ "refresh_token": self.refresh_token.as_ref()? }),
        })
    }

    async fn run(mut self) -> RunResult {
        let mut out = RunResult::empty();
        loop {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.limit {
                break;
            }
            // A worker whose refresh chain broke has nothing left to send.
            let Some(body) = self.body(i) else { break };
            if let Some(rate) = self.rate {
                tokio::time::sleep_until((self.started + secs(i as f64 / rate)).into()).await;
            }
            let begun = Instant::now();
            let budget_end = begun + self.timeout;
            // One key per sign-up: its retries are the same request to authd.
            let key = (self.retry && matches!(self.kind, Kind::Signup))
                .then(|| format!("{}-{i}", self.prefix));
            let outcome = loop {
                let left = budget_end.saturating_duration_since(Instant::now());
                let mut request = self
                    .client
                    .post(&*self.url)
                    .json(&body)
                    .timeout(left.min(self.attempt_timeout));
                if let Some(key) = &key {
                    request = request.header("idempotency-key", key);
                }
                let sent = request.send().await;
                let wait = match &sent {
                    Ok(r) if r.status().as_u16() == 503 && self.retry_503 => {
                        retry_after(r.headers())
                    }
                    // 409 with Retry-After: the first attempt with this key still runs.
                    Ok(r)
                        if r.status().as_u16() == 409
                            && self.retry
                            && r.headers().contains_key("retry-after") =>
                    {
                        retry_after(r.headers())
                    }
                    Err(err) if self.retry => {
                        *out.retried_errors
                            .entry(error_kind(err).to_string())
                            .or_default() += 1;
                        Duration::from_millis(200)
                    }
                    _ => break sent,
                };
                if Instant::now() + wait >= budget_end {
                    break sent;
                }
                out.retries += 1;
                if let Ok(r) = &sent {
                    *out.retried_statuses.entry(r.status().as_u16()).or_default() += 1;
                }
                tokio::time::sleep(wait).await;
            };
            out.sent += 1;
            let micros = begun.elapsed().as_micros().max(1) as u64;
            out.all.saturating_record(micros);
            match outcome {
                Ok(response) => {
                    let status = response.status().as_u16();
                    *out.statuses.entry(status).or_default() += 1;
                    match status {
                        200..=299 => out.ok.saturating_record(micros),
                        503 => out.refused.saturating_record(micros),
                        _ => {}
                    }
                    if status == self.kind.success() {
                        let second = self.started.elapsed().as_secs() as usize;
                        if out.timeline.len() <= second {
                            out.timeline.resize(second + 1, 0);
                        }
                        out.timeline[second] += 1;
                        match response.json::<Value>().await {
                            Ok(v) => match self.kind {
                                Kind::Signup => {
                                    out.created_ids.extend(v["id"].as_str().map(str::to_string))
                                }
                                Kind::Refresh(_) => {
                                    self.refresh_token =
                                        v["refresh_token"].as_str().map(str::to_string)
                                }
                                Kind::Login(_) => {}
                            },
                            Err(e) => {
                                *out.errors
                                    .entry(format!("body: {}", error_kind(&e)))
                                    .or_default() += 1
                            }
                        }
                    } else if matches!(self.kind, Kind::Refresh(_)) && status != 503 {
                        // The token is spent or revoked: this chain is over.
                        self.refresh_token = None;
                    }
                }
                Err(err) => *out.errors.entry(error_kind(&err).to_string()).or_default() += 1,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_reads_seconds_and_defaults_to_one() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), Duration::from_secs(1));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Duration::from_secs(3));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("0"));
        assert_eq!(retry_after(&headers), Duration::ZERO);
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Duration::from_secs(1));
    }
}
