//! Process plumbing shared by the `kuma-cp`, `kuma-global` and `kuma-zone` binaries: the crypto
//! provider, logging, configuration loading with Kuma's exit code, and termination signals.

use std::fmt;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::config::{self, CpConfig};
use crate::shutdown::{self, Shutdown};

/// Exit code for a configuration error (`EX_USAGE`), before anything was started.
pub const EXIT_CONFIG: u8 = 64;

/// Makes aws-lc-rs the process-wide rustls provider. Call first thing in `main`: tonic, axum and
/// sqlx all build TLS configs from the process default.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is the goal.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Logs to stderr. `RUST_LOG` wins over `level` (`info`, `debug`, …).
pub fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Loads the configuration from the environment and the optional file.
pub fn load_config(file: Option<&Path>) -> Result<CpConfig, config::Error> {
    config::load(&config::Env, file)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn termination_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::warn!(%err, "cannot listen for SIGTERM; only Ctrl-C stops the process");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT"),
        _ = term.recv() => tracing::info!("received SIGTERM"),
    }
}

/// Runs a control plane binary: loads the configuration (exit 64 on error, before anything is
/// bound), starts a multi-threaded runtime, and hands `start` a shutdown signal that fires on
/// SIGINT or SIGTERM. Errors are printed with their whole chain (`{:#}`) and exit 1.
pub fn main<F, Fut, E>(config_file: Option<&Path>, log_level: &str, start: F) -> ExitCode
where
    F: FnOnce(CpConfig) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    install_crypto_provider();
    init_logging(log_level);
    let config = match load_config(config_file) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("Error: invalid configuration: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error: could not start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(start(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A shutdown signal that fires on SIGINT or SIGTERM. Call inside the async runtime.
pub fn shutdown_on_signal() -> Shutdown {
    let (trigger, shutdown) = shutdown::channel();
    tokio::spawn(async move {
        termination_signal().await;
        trigger.fire();
    });
    shutdown
}
