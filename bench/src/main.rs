//! `kuma-bench`: measures the control plane against the physical limit (issue 7) and writes
//! `BENCHMARKS.md`. `main` only wires; each figure lives in its own module.

mod args;
mod crypto;
mod dps;
mod kds;
mod process;
mod report;
mod startup;
mod xds;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    kuma_core::process::install_crypto_provider();
    let args = args::Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(args::run(args))
}
