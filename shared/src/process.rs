//! Process plumbing of the `kuma-cp`, `kuma-global` and `kuma-zone` binaries: configuration
//! loading with Kuma's exit code, and the runtime around a control plane's start. The crypto
//! provider, logging and signals are `kuma_core::process`'s.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use kuma_core::process::{init_logging, install_crypto_provider};

use crate::config::{self, CpConfig};

/// Exit code for a configuration error (`EX_USAGE`), before anything was started.
pub const EXIT_CONFIG: u8 = 64;

/// Loads the configuration from the environment and the optional file.
pub fn load_config(file: Option<&Path>) -> Result<CpConfig, config::Error> {
    config::load(&config::Env, file)
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
