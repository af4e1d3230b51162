use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use authd::cli::{Cli, Command};
use authd::config::Settings;
use authd::startup::{shutdown_signal, Application};
use authd::store::Store;
use authd::{healthcheck, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
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
