//! authd-load: the successor of the seed's Go tester. Fires unique sign-ups at authd
//! (or its nginx gateway) over keep-alive connections and reports the elapsed time,
//! the rate, latency percentiles (HDR histogram), every status code and every
//! transport error; with --verify, checks that each 201 has its row and its event.

mod hash_limit;
mod pool;
mod report;
mod result;
mod run;
mod verify;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Sign up unique users through POST /auth/user.
    Signup,
    /// Sign up a pool of --users users (not measured), then log them in, in turn.
    Login,
    /// Sign up --concurrency users and log each in once (not measured), then each
    /// client refreshes its own token chain (every refresh rotates the token).
    Refresh,
    /// No HTTP: one argon2id loop per CPU with authd's own hash function and the
    /// given parameters, for --duration seconds (default 10): the machine's limit.
    HashLimit,
}

#[derive(Debug, Clone, Parser)]
#[command(name = "authd-load", version)]
pub struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Mode::Signup)]
    pub mode: Mode,
    /// argon2id memory cost in KiB (hash-limit mode; match the server's setting).
    #[arg(long, env = "AUTHD_ARGON2_MEMORY_KIB", default_value_t = authd::hashing::HashParams::OWASP.memory_kib)]
    pub argon2_memory_kib: u32,
    /// argon2id iterations (hash-limit mode).
    #[arg(long, env = "AUTHD_ARGON2_ITERATIONS", default_value_t = authd::hashing::HashParams::OWASP.iterations)]
    pub argon2_iterations: u32,
    /// argon2id lanes (hash-limit mode).
    #[arg(long, env = "AUTHD_ARGON2_PARALLELISM", default_value_t = authd::hashing::HashParams::OWASP.parallelism)]
    pub argon2_parallelism: u32,
    /// The argon2 engine (hash-limit mode; match the server's setting).
    #[arg(long, env = "AUTHD_ARGON2_ENGINE", value_enum, default_value_t = authd::hashing::Engine::Fast)]
    pub argon2_engine: authd::hashing::Engine,
    /// Base URL of authd or its gateway.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The seed tester's form, `authd-load URL [N]`: URL may be the base or the
    /// endpoint itself (http://127.0.0.1:8080/auth/user); it replaces --url.
    #[arg(value_name = "URL")]
    pub target: Option<String>,
    /// With URL: the number of requests (replaces --requests).
    #[arg(value_name = "N", requires = "target")]
    pub count: Option<u64>,
    /// Requests to send (unless --duration is given).
    #[arg(long, default_value_t = 10_000)]
    pub requests: u64,
    /// Send for this many seconds instead of a fixed number of requests.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 100)]
    pub concurrency: usize,
    /// Send at this pace instead of as fast as the clients go: request i leaves
    /// no earlier than i/RATE seconds after the start (requests per second, all
    /// clients together; a client still waits for its answer before its next).
    #[arg(long, value_parser = positive_rate)]
    pub rate: Option<f64>,
    /// Per-request timeout in seconds (the Go tester used 5).
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    /// Retry a 503 after the delay its Retry-After advises, until it succeeds or
    /// the request's timeout budget is spent.
    #[arg(long)]
    pub retry_503: bool,
    /// Retry like a careful client: each sign-up carries an Idempotency-Key, and a
    /// 503, a 409 "in progress" (both after their Retry-After) or a transport error
    /// or timeout is sent again with the same key, within --timeout. Implies
    /// --retry-503.
    #[arg(long)]
    pub retry: bool,
    /// With --retry: the longest one attempt may take, in seconds, before it is
    /// abandoned and sent again (default: the whole --timeout).
    #[arg(long)]
    pub attempt_timeout: Option<f64>,
    /// User names start with this; default: a random run id, so reruns never collide.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Users in the pool of the login mode (default: the concurrency, at least 100).
    #[arg(long)]
    pub users: Option<u64>,
    /// Password of every generated user.
    #[arg(long, default_value = "correct horse battery staple")]
    pub password: String,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// After the run, check that every 201 has its row and its authd.user.created event.
    #[arg(long, requires_all = ["database_url", "brokers"], conflicts_with = "users")]
    pub verify: bool,
    /// Postgres URL, for --verify.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Kafka bootstrap servers, for --verify.
    #[arg(long, env = "AUTHD_KAFKA_BROKERS")]
    pub brokers: Option<String>,
    /// Events topic, for --verify.
    #[arg(long, env = "AUTHD_KAFKA_TOPIC", default_value = "authd.user-events")]
    pub topic: String,
    /// Seconds --verify waits for missing events after the last one it saw.
    #[arg(long, default_value_t = 10)]
    pub verify_idle: u64,
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a positive number of requests per second"
        )),
    }
}

/// The endpoint each mode sends to.
fn endpoint(mode: Mode) -> &'static str {
    match mode {
        Mode::Signup | Mode::HashLimit => "/auth/user",
        Mode::Login => "/auth/login",
        Mode::Refresh => "/auth/token",
    }
}

/// Applies `URL [N]`: a URL naming the mode's endpoint is cut to its base, so it
/// is never sent to `/auth/user/auth/user`; any other path is refused.
fn apply_target(args: &mut Args) -> Result<(), String> {
    let Some(target) = args.target.take() else {
        return Ok(());
    };
    let trimmed = target.trim_end_matches('/');
    let rest = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let endpoint = endpoint(args.mode);
    let base = if path.is_empty() {
        trimmed
    } else if path == endpoint {
        &trimmed[..trimmed.len() - path.len()]
    } else {
        return Err(format!(
            "{target}: the path {path} is not the {endpoint} of --mode {:?}; give the base URL",
            args.mode
        ));
    };
    args.url = base.to_string();
    if let Some(n) = args.count {
        args.requests = n;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Args::parse();
    if let Err(err) = apply_target(&mut args) {
        eprintln!("authd-load: {err}");
        return ExitCode::from(2);
    }
    if args.concurrency == 0 || args.timeout <= 0.0 {
        eprintln!("authd-load: --concurrency and --timeout must be positive");
        return ExitCode::from(2);
    }
    if args.mode == Mode::HashLimit {
        return match hash_limit::run(&args) {
            Ok(report) => {
                println!(
                    "{}",
                    if args.json {
                        serde_json::to_string_pretty(&report).expect("json")
                    } else {
                        hash_limit::table(&report)
                    }
                );
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("authd-load: {err}");
                ExitCode::from(2)
            }
        };
    }
    let from = if args.verify {
        match verify::start_offsets(&args).await {
            Ok(from) => from,
            Err(err) => {
                eprintln!("authd-load: reading the topic's end offsets: {err:#}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        Vec::new()
    };
    let kind = match args.mode {
        Mode::Signup | Mode::HashLimit => run::Kind::Signup,
        Mode::Login | Mode::Refresh => match pool::prepare(&args).await {
            Ok(kind) => kind,
            Err(err) => {
                eprintln!("authd-load: preparing the user pool: {err:#}");
                return ExitCode::FAILURE;
            }
        },
    };
    let prefix = run::prefix(&args);
    let result = run::run_with(&args, kind, prefix.clone(), args.concurrency, args.requests).await;
    let mut report = report::Report::new(&args, result);
    if args.verify {
        match verify::verify(&args, &prefix, &report.created_ids, from).await {
            Ok(v) => report.verification = Some(v),
            Err(err) => {
                eprintln!("authd-load: verification failed to run: {err:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).expect("json")
        );
    } else {
        print!("{}", report.table());
    }
    if let Some(warning) = report.same_client_error() {
        eprintln!("authd-load: WARNING: {warning}");
    }
    if report.verification.as_ref().is_some_and(|v| v.lost > 0) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> Result<Args, String> {
        let mut args = Args::try_parse_from(argv).map_err(|e| e.to_string())?;
        apply_target(&mut args)?;
        Ok(args)
    }

    #[test]
    fn a_rate_is_a_positive_number_of_requests_per_second() {
        assert_eq!(
            args(&["authd-load", "--rate", "100"]).unwrap().rate,
            Some(100.0)
        );
        assert_eq!(args(&["authd-load"]).unwrap().rate, None);
        for bad in ["0", "-5", "fast", "NaN", "inf"] {
            assert!(args(&["authd-load", "--rate", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_seed_form_names_the_endpoint_or_the_base() {
        let a = args(&["authd-load", "http://127.0.0.1:8080/auth/user", "3000"]).unwrap();
        assert_eq!(
            (a.url.as_str(), a.requests),
            ("http://127.0.0.1:8080", 3000)
        );
        let b = args(&["authd-load", "http://127.0.0.1:8080/"]).unwrap();
        assert_eq!(
            (b.url.as_str(), b.requests),
            ("http://127.0.0.1:8080", 10_000)
        );
        let login = args(&["authd-load", "--mode", "login", "http://h:1/auth/login"]).unwrap();
        assert_eq!(login.url, "http://h:1");
        assert!(
            args(&["authd-load", "http://h:1/auth/login"]).is_err(),
            "not the sign-up endpoint"
        );
        assert!(args(&["authd-load", "http://h:1/elsewhere", "5"]).is_err());
    }
}
