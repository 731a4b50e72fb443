//! `kumactl config control-planes add|list|switch|remove`.
//!
//! `add` checks that the control plane answers `GET /` before saving, as Kuma's kumactl does.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::client::Client;
use crate::config::{Config, ControlPlane};
use crate::output::Table;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Manage known control planes.
    #[command(subcommand, name = "control-planes")]
    ControlPlanes(ControlPlanes),
}

#[derive(Debug, clap::Subcommand)]
pub enum ControlPlanes {
    /// Add a control plane and make it current.
    Add {
        /// Name to refer to the control plane by.
        #[arg(long)]
        name: String,
        /// URL of its API server, e.g. `https://cp:5682`.
        #[arg(long)]
        address: String,
        /// CA certificate (PEM) that verifies an HTTPS API server.
        #[arg(long)]
        ca_cert_file: Option<PathBuf>,
        /// Replace a control plane of the same name.
        #[arg(long)]
        overwrite: bool,
    },
    /// List known control planes.
    List,
    /// Make another control plane current.
    Switch {
        #[arg(long)]
        name: String,
    },
    /// Forget a control plane.
    Remove {
        #[arg(long)]
        name: String,
    },
}

pub async fn run(cmd: Command, path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let Command::ControlPlanes(cmd) = cmd;
    let mut config = Config::load(path)?;
    match cmd {
        ControlPlanes::Add {
            name,
            address,
            ca_cert_file,
            overwrite,
        } => {
            let cp = ControlPlane::new(&name, &address, ca_cert_file);
            Client::new(&cp)?.get("/").await.with_context(|| {
                format!("could not connect to the Control Plane API Server at {address}")
            })?;
            config.add(cp, overwrite)?;
            config.save(path)?;
            writeln!(out, "added Control Plane {name:?}")?;
            writeln!(out, "switched active Control Plane to {name:?}")?;
        }
        ControlPlanes::List => {
            let rows = config
                .control_planes
                .iter()
                .map(|cp| {
                    let active = if cp.name == config.current_context {
                        "*"
                    } else {
                        ""
                    };
                    vec![
                        active.to_owned(),
                        cp.name.clone(),
                        cp.coordinates.api_server.url.clone(),
                    ]
                })
                .collect();
            let table = Table {
                headers: vec!["ACTIVE", "NAME", "ADDRESS"],
                rows,
            };
            out.write_all(table.render().as_bytes())?;
        }
        ControlPlanes::Switch { name } => {
            config.switch(&name)?;
            config.save(path)?;
            writeln!(out, "switched active Control Plane to {name:?}")?;
        }
        ControlPlanes::Remove { name } => {
            config.remove(&name)?;
            config.save(path)?;
            writeln!(out, "removed Control Plane {name:?}")?;
        }
    }
    Ok(())
}
