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
        /// Client certificate (PEM) for an API server that admits admins by certificate.
        #[arg(long)]
        client_cert_file: Option<PathBuf>,
        /// Key of the client certificate.
        #[arg(long)]
        client_key_file: Option<PathBuf>,
        /// Authentication plugin: `tokens` sends `Authorization: Bearer <token>`.
        #[arg(long)]
        auth_type: Option<String>,
        /// Settings of the authentication plugin, `key=value` (comma-separated or repeated),
        /// e.g. `token=<user token>`.
        #[arg(long, value_delimiter = ',', value_parser = key_value)]
        auth_conf: Vec<(String, String)>,
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
            client_cert_file,
            client_key_file,
            auth_type,
            auth_conf,
            overwrite,
        } => {
            let mut cp = ControlPlane::new(&name, &address, ca_cert_file);
            let api = &mut cp.coordinates.api_server;
            api.client_cert_file = client_cert_file;
            api.client_key_file = client_key_file;
            api.auth_type = auth_type;
            api.auth_conf = auth_conf.into_iter().collect();
            // `Client::new` refuses bad auth flags before any connection is tried.
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
                    let active = if cp.name == config.current_context { "*" } else { "" };
                    vec![active.to_owned(), cp.name.clone(), cp.coordinates.api_server.url.clone()]
                })
                .collect();
            let table = Table { headers: vec!["ACTIVE", "NAME", "ADDRESS"], rows };
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

/// One `key=value` of `--auth-conf`.
fn key_value(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{arg} must be formatted as key=value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_conf_takes_key_value_pairs() {
        assert_eq!(key_value("token=a.b=c").unwrap(), ("token".to_owned(), "a.b=c".to_owned()));
        assert_eq!(key_value("token").unwrap_err(), "token must be formatted as key=value");
        assert!(key_value("=x").is_err());
    }
}
