//! `kuma-global run`: the global control plane on its own.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shared::process;

#[derive(Parser)]
#[command(name = "kuma-global", version, about = "The global control plane")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the global control plane.
    Run {
        /// kuma-cp.yaml with Kuma's keys; environment variables override it.
        #[arg(short = 'c', long)]
        config_file: Option<PathBuf>,
        /// Log level (RUST_LOG overrides it).
        #[arg(long, default_value = "info")]
        log_level: String,
    },
}

fn main() -> ExitCode {
    let Command::Run { config_file, log_level } = Cli::parse().command;
    process::main(config_file.as_deref(), &log_level, |config| async move {
        let app = global::App::build(config).await?;
        app.run(kuma_core::process::shutdown_on_signal()).await
    })
}
