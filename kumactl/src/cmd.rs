//! The command line: clap definitions and dispatch to one module per command.
//!
//! Each command module parses nothing itself and prints to the writer it is given, so tests can
//! capture output.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{CommandFactory, Parser, Subcommand};
use serde_json::Value;

use crate::client::{self, Client};
use crate::config::Config;

mod apply;
mod config;
mod delete;
mod generate;
mod get;
mod inspect;
mod version;

/// Command line client of the control plane's REST API.
#[derive(Debug, Parser)]
#[command(name = "kumactl", version)]
pub struct Cli {
    /// Path to the configuration file [default: ~/.kumactl/config].
    #[arg(long, global = true)]
    config_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or update resources from a file or stdin.
    Apply(apply::Args),
    /// Show resources.
    Get(get::Args),
    /// Delete a resource.
    Delete(delete::Args),
    /// Inspect zones: their connection state as the global sees it.
    Inspect(inspect::Args),
    /// Generate certificates, token signing keys and tokens.
    #[command(subcommand)]
    Generate(generate::Command),
    /// Manage the configuration of kumactl.
    #[command(subcommand)]
    Config(config::Command),
    /// Print the version of kumactl and, when it answers, of the current control plane.
    Version(version::Args),
    /// Print a shell completion script: `source <(kumactl completion bash)`.
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// The shells `completion` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Cli {
    /// Runs the command, printing results to stdout.
    pub async fn run(self) -> anyhow::Result<()> {
        let path = self.config_file.unwrap_or_else(Config::default_path);
        let mut out = std::io::stdout().lock();
        match self.command {
            Command::Apply(args) => apply::run(args, &client(&path)?, &mut out).await,
            Command::Get(args) => get::run(args, &client(&path)?, &mut out).await,
            Command::Delete(args) => delete::run(args, &client(&path)?, &mut out).await,
            Command::Inspect(args) => inspect::run(args, &client(&path)?, &mut out).await,
            Command::Generate(cmd) => generate::run(cmd, &path, &mut out).await,
            Command::Config(cmd) => config::run(cmd, &path, &mut out).await,
            Command::Version(args) => version::run(args, &path, &mut out).await,
            Command::Completion { shell } => {
                let shell = match shell {
                    Shell::Bash => clap_complete::Shell::Bash,
                    Shell::Zsh => clap_complete::Shell::Zsh,
                    Shell::Fish => clap_complete::Shell::Fish,
                };
                clap_complete::generate(shell, &mut Cli::command(), "kumactl", &mut out);
                Ok(())
            }
        }
    }
}

fn client(config_path: &std::path::Path) -> anyhow::Result<Client> {
    let config = Config::load(config_path)?;
    let cp = config.current()?;
    Client::new(cp).with_context(|| format!("connecting to Control Plane {:?}", cp.name))
}

/// Maps the `TYPE` argument (`mesh`, `meshes`, `traffic-permission`, …) onto a type, and tells
/// whether it was the plural.
fn resource_type(arg: &str) -> anyhow::Result<(kuma_core::resources::ResourceType, bool)> {
    use kuma_core::resources::ResourceType;
    if let Some(ty) = ResourceType::from_plural(arg) {
        return Ok((ty, true));
    }
    // kumactl spells the REST path `zoneingresses` with a dash.
    if arg == "zone-ingresses" {
        return Ok((ResourceType::ZoneIngress, true));
    }
    ResourceType::ALL.into_iter().find(|t| t.singular() == arg).map(|t| (t, false)).ok_or_else(
        || anyhow::anyhow!("unknown TYPE: {arg}. Available types: {}", type_names().join(", ")),
    )
}

/// Every `TYPE` kumactl accepts for resources, singular then plural, in Kuma's order.
fn type_names() -> Vec<&'static str> {
    use kuma_core::resources::ResourceType;
    ResourceType::ALL
        .into_iter()
        .flat_map(|t| match t {
            ResourceType::ZoneIngress => [t.singular(), "zone-ingresses"],
            _ => [t.singular(), t.plural()],
        })
        .collect()
}

/// REST path of one resource (or, with `name` `None`, of its collection in `mesh`).
fn path(ty: kuma_core::resources::ResourceType, mesh: Option<&str>, name: Option<&str>) -> String {
    let base = match (ty.scope(), mesh) {
        (kuma_core::resources::Scope::Mesh, Some(mesh)) => {
            format!("/meshes/{mesh}/{}", ty.plural())
        }
        _ => format!("/{}", ty.plural()),
    };
    match name {
        Some(name) => format!("{base}/{name}"),
        None => base,
    }
}

/// The list response at `path` and its items.
async fn list(client: &Client, path: &str) -> anyhow::Result<(Value, Vec<Value>)> {
    let list = client.get(path).await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    Ok((list, items))
}

/// The one record at `path`; a 404 says there is no `kind` named `name`.
async fn one(client: &Client, path: &str, kind: &str, name: &str) -> anyhow::Result<Value> {
    match client.get(path).await {
        Ok(one) => Ok(one),
        Err(client::Error::Api(e)) if e.status == 404 => {
            bail!("there is no {kind} with name {name:?}")
        }
        Err(e) => Err(e.into()),
    }
}
