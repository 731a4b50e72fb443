//! `kumactl`: the command line client of the control plane's REST API.

use std::process::ExitCode;

use clap::Parser;

mod client;
mod cmd;
mod config;
mod output;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // One provider for every TLS user in the process; an error only means one is already set.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match cmd::Cli::parse().run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
