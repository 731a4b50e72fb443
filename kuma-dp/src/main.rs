//! `kuma-dp`: the data plane agent. It runs Envoy, proves who it is with a dataplane token, keeps
//! its private key in memory, gets its SPIFFE certificate from the zone's DP server by CSR and
//! hands it to its Envoy over a local SDS socket. `main` only wires: provider, logging, flags,
//! run.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod envoy;
mod readiness;
mod run;
mod san;
mod sds;
mod session;
mod workdir;

#[tokio::main]
async fn main() -> ExitCode {
    kuma_core::process::install_crypto_provider();
    kuma_core::process::init_logging("info");
    let cli::Cli { command: cli::Command::Run(args) } = cli::Cli::parse();
    let result = match args.resolve(|name| std::env::var(name).ok()) {
        Ok(config) => run::run(config).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            match e.downcast_ref::<session::Fatal>() {
                Some(_) => ExitCode::from(session::Fatal::EXIT_CODE),
                None => ExitCode::FAILURE,
            }
        }
    }
}
