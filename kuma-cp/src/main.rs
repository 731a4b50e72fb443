//! `kuma-cp run`: starts the global or the zone control plane according to `KUMA_MODE`
//! (`zone` by default; `standalone` is the deprecated name of `zone`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shared::config::Mode;
use shared::process;

#[derive(Parser)]
#[command(
    name = "kuma-cp",
    version,
    about = "Universal Control Plane for Envoy-based Service Mesh"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Launches the control plane (global or zone, per KUMA_MODE).
    Run {
        /// kuma-cp.yaml with Kuma's keys; environment variables override it.
        #[arg(short = 'c', long)]
        config_file: Option<PathBuf>,
        /// Log level (RUST_LOG overrides it).
        #[arg(long, default_value = "info")]
        log_level: String,
    },
    /// Print the version of kuma-cp and of the Kuma release it follows.
    Version,
}

fn main() -> ExitCode {
    let (config_file, log_level) = match Cli::parse().command {
        Command::Run { config_file, log_level } => (config_file, log_level),
        Command::Version => {
            println!(
                "kuma-cp {} (Kuma {} API)",
                env!("CARGO_PKG_VERSION"),
                kuma_core::BASED_ON_KUMA
            );
            return ExitCode::SUCCESS;
        }
    };
    process::main(config_file.as_deref(), &log_level, |config| async move {
        let shutdown = kuma_core::process::shutdown_on_signal();
        match config.mode {
            Mode::Global => global::App::build(config).await?.run(shutdown).await,
            Mode::Zone => zone::App::build(config).await?.run(shutdown).await,
        }
    })
}
