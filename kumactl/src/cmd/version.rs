//! `kumactl version [--client]`: kumactl's version, then the current control plane's (`GET /`)
//! when it answers. A control plane that does not answer is reported, not an error: the client's
//! version is still worth printing.

use std::io::Write;
use std::path::Path;

use kuma_core::BASED_ON_KUMA;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the client's version only; connect to nothing.
    #[arg(long)]
    client: bool,
}

pub async fn run(args: Args, config_path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    writeln!(out, "Client: kumactl {version} (Kuma {BASED_ON_KUMA} API)")?;
    if args.client {
        return Ok(());
    }
    let answer = async {
        let client = super::client(config_path)?;
        Ok::<_, anyhow::Error>((client.base().to_owned(), client.get("/").await?))
    };
    match answer.await {
        Ok((url, index)) => {
            let text = |key: &str| index[key].as_str().unwrap_or("unknown").to_owned();
            let based_on = index["basedOnKuma"].as_str().map(|v| format!(" (Kuma {v} API)"));
            writeln!(
                out,
                "Server: {} {}{} at {url}",
                text("product"),
                text("version"),
                based_on.unwrap_or_default()
            )?;
        }
        Err(err) => writeln!(out, "Server: not reachable: {err:#}")?,
    }
    Ok(())
}
