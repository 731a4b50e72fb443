//! Process plumbing every binary shares: the crypto provider, logging to stderr, and the
//! termination signals. Nothing here reads configuration or starts a server.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::shutdown::{self, Shutdown};

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

/// A shutdown signal that fires on SIGINT or SIGTERM. Call inside the async runtime.
pub fn shutdown_on_signal() -> Shutdown {
    let (trigger, shutdown) = shutdown::channel();
    tokio::spawn(async move {
        termination_signal().await;
        trigger.fire();
    });
    shutdown
}
