use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use authd::cli::{Cli, Command, EventsAction, KeysAction, UsersAction};
use authd::clock::{Clock, SystemClock};
use authd::config::{LogFormat, Settings};
use authd::events::kafka;
use authd::http::serve::shutdown_signal;
use authd::startup::Application;
use authd::store::Store;
use authd::tokens::Keys;
use authd::{healthcheck, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    authd::private_files::restrict_new_files();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck { url, timeout } => {
            return match healthcheck::probe(&url, Duration::from_secs(timeout)).await {
                Ok(200) => ExitCode::SUCCESS,
                Ok(status) => {
                    eprintln!("authd healthcheck: {url} answered {status}");
                    ExitCode::FAILURE
                }
                Err(err) => {
                    eprintln!("authd healthcheck: {err:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Serve => serve(&cli.settings).await,
        Command::Migrate => migrate(&cli.settings).await,
        Command::Keys { action } => keys(&cli.settings, action).await,
        Command::Users {
            action: UsersAction::Import { file, batch },
        } => import_users(&cli.settings, &file, batch as usize).await,
        Command::Events {
            action: None,
            limit,
        } => list_events(&cli.settings, limit).await,
        Command::Events {
            action:
                Some(EventsAction::Tail {
                    brokers,
                    topic,
                    from_beginning,
                    max,
                    idle_timeout,
                }),
            ..
        } => {
            tail_events(
                &cli.settings,
                &brokers,
                &topic,
                from_beginning,
                max,
                idle_timeout,
            )
            .await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "authd failed");
            eprintln!("authd: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let config = settings.validate().map_err(anyhow::Error::msg)?;
    telemetry::init(settings.log_format);
    let app = Application::build(config).await?;
    app.run_until_stopped(shutdown_signal()).await
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let config = settings.validate().map_err(anyhow::Error::msg)?;
    telemetry::init(settings.log_format);
    let store = Store::connect(&config.store, 1).await?;
    store.migrate().await?;
    tracing::info!(store = store.kind(), "migrations applied");
    store.close().await;
    Ok(())
}

async fn keys(settings: &Settings, action: KeysAction) -> anyhow::Result<()> {
    let config = settings.validate().map_err(anyhow::Error::msg)?;
    let store = Store::connect(&config.store, 1).await?;
    store.migrate().await?;
    let now = SystemClock.now();
    let refresh = config.tokens.keys_refresh;
    let mut out = std::io::stdout().lock();
    let secrets = config.tokens.secrets.load()?;
    match action {
        KeysAction::Rotate { revoke_old } => {
            // The first key is made here when the store has none yet.
            Keys::load(
                store.clone(),
                secrets.clone(),
                now,
                config.tokens.access_ttl,
                refresh,
            )
            .await?;
            let kid = Keys::rotate(&store, secrets.as_deref(), now, revoke_old).await?;
            writeln!(
                out,
                "{}",
                serde_json::json!({ "rotated": true, "kid": kid, "revoked_old": revoke_old })
            )?;
        }
        KeysAction::Reseal => {
            let secrets = secrets.context("reseal needs AUTHD_SECRETS_KEY_FILE")?;
            let resealed = Keys::reseal(&store, &secrets).await?;
            let factors = authd::authn::enrolment::reseal(&store, &secrets).await?;
            let answer =
                serde_json::json!({ "resealed": resealed, "totp_secrets_resealed": factors });
            writeln!(out, "{answer}")?;
        }
        KeysAction::List => {
            let keys = Keys::load(
                store.clone(),
                secrets,
                now,
                config.tokens.access_ttl,
                refresh,
            )
            .await?;
            for jwk in keys.ring(now).await.jwks() {
                writeln!(out, "{}", serde_json::to_string(&jwk)?)?;
            }
        }
    }
    store.close().await;
    Ok(())
}

async fn import_users(
    settings: &Settings,
    file: &std::path::Path,
    batch: usize,
) -> anyhow::Result<()> {
    let config = settings.validate().map_err(anyhow::Error::msg)?;
    let text = if file == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let store = Store::connect(&config.store, 2)
        .await?
        .with_event_source(&config.event_source);
    store.migrate().await?;
    let started = std::time::Instant::now();
    let report = authd::import::import(&store, &text, batch, None, SystemClock.now()).await?;
    let seconds = started.elapsed().as_secs_f64();
    store.close().await;
    for refused in &report.refused {
        eprintln!("line {}: {}", refused.line, refused.reason);
    }
    let rows = report.imported + report.skipped + report.refused.len();
    println!(
        "{}",
        serde_json::json!({
            "imported": report.imported, "skipped": report.skipped,
            "refused": report.refused.len(), "seconds": (seconds * 1000.0).round() / 1000.0,
            "rows_per_second": (rows as f64 / seconds.max(1e-9)).round(),
        })
    );
    if !report.refused.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

async fn list_events(settings: &Settings, limit: i64) -> anyhow::Result<()> {
    let config = settings.validate().map_err(anyhow::Error::msg)?;
    let store = Store::connect(&config.store, 1).await?;
    let events = store
        .waiting_events(limit)
        .await
        .context("is the database migrated? (authd migrate)")?;
    let mut out = std::io::stdout().lock();
    for e in events {
        let event: serde_json::Value = serde_json::from_str(&e.payload)?;
        let line = serde_json::json!({
            "seq": e.seq, "id": e.id, "type": e.event_type, "subject": e.aggregate_id,
            "created_at": e.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "event": event,
        });
        writeln!(out, "{line}")?;
    }
    store.close().await;
    Ok(())
}

async fn tail_events(
    settings: &Settings,
    brokers: &str,
    topic: &str,
    from_beginning: bool,
    max: Option<usize>,
    idle_timeout: Option<u64>,
) -> anyhow::Result<()> {
    // Logs go to stderr, events to stdout.
    telemetry::init(LogFormat::Auto);
    let properties = settings
        .kafka_properties(brokers)
        .map_err(anyhow::Error::msg)?;
    let consumer = kafka::tail_consumer(
        brokers,
        &properties,
        topic,
        if from_beginning {
            kafka::Start::Beginning
        } else {
            kafka::Start::End
        },
    )
    .await?;
    let idle = idle_timeout.map_or(Duration::MAX, Duration::from_secs);
    let print = |line: serde_json::Value| {
        let mut out = std::io::stdout().lock();
        // A closed pipe (| head) ends the command; nothing to report.
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    };
    tokio::select! {
        consumed = kafka::consume_until_idle(&consumer, idle, max, print) => consumed.map(|_| ()),
        _ = shutdown_signal() => Ok(()),
    }
}
