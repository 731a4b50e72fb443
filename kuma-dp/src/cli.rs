//! The command line: `kuma-dp run` flags and the environment variables Kuma's kuma-dp reads, and
//! their resolution into a [`RunConfig`] (the CA, the token source, the resource as JSON).
//!
//! This module only parses and validates; it must not open connections or start tasks.
//! Variables that tests must vary without touching the process environment (the token and the CA
//! PEM) are read through an injected lookup.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Kuma's message when no token can be found (`app/kuma-dp/pkg/dataplane/...`).
pub const TOKEN_REQUIRED: &str = "Dataplane Token is required. Generate token using 'kumactl \
     generate dataplane-token > /path/file' and provide it via \
     --dataplane-token-file=/path/file argument to Kuma DP";

/// `kuma-dp`.
#[derive(Debug, Parser)]
#[command(name = "kuma-dp", about = "Dataplane (proxy) agent of the control plane", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to the control plane and keep an identity certificate.
    Run(RunArgs),
}

/// Whether the proxy is a data plane or a zone ingress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProxyType {
    /// A `Dataplane`.
    Dataplane,
    /// A `ZoneIngress`.
    Ingress,
}

/// `kuma-dp run` flags.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// URL of the control plane's DP server.
    #[arg(long, env = "KUMA_CONTROL_PLANE_URL", default_value = "https://localhost:5678")]
    pub cp_address: String,
    /// Path to the CA certificate of the control plane (KUMA_CONTROL_PLANE_CA_CERT holds PEM text).
    #[arg(long, env = "KUMA_CONTROL_PLANE_CA_CERT_FILE")]
    pub ca_cert_file: Option<PathBuf>,
    /// Path to the Dataplane resource (YAML or JSON).
    #[arg(long, conflicts_with = "dataplane")]
    pub dataplane_file: Option<PathBuf>,
    /// The Dataplane resource inline (YAML or JSON).
    #[arg(long, env = "KUMA_DATAPLANE_RUNTIME_RESOURCE")]
    pub dataplane: Option<String>,
    /// Name of the data plane proxy (taken from the resource when one is given).
    #[arg(long, env = "KUMA_DATAPLANE_NAME")]
    pub name: Option<String>,
    /// Mesh of the data plane proxy (taken from the resource when one is given).
    #[arg(long, env = "KUMA_DATAPLANE_MESH")]
    pub mesh: Option<String>,
    /// Path to the dataplane token (KUMA_DATAPLANE_RUNTIME_TOKEN holds it inline).
    #[arg(long, env = "KUMA_DATAPLANE_RUNTIME_TOKEN_PATH")]
    pub dataplane_token_file: Option<PathBuf>,
    /// Type of the proxy.
    #[arg(long, env = "KUMA_DATAPLANE_PROXY_TYPE", value_enum, default_value = "dataplane")]
    pub proxy_type: ProxyType,
    /// Port of the local admin endpoint on 127.0.0.1 (0: any free port).
    #[arg(long, env = "KUMA_DATAPLANE_ADMIN_PORT", default_value_t = 9901)]
    pub admin_port: u16,
}

/// Where the CA certificate of the control plane comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaSource {
    /// A file (`--ca-cert-file`).
    File(PathBuf),
    /// PEM text (`KUMA_CONTROL_PLANE_CA_CERT`).
    Pem(String),
}

/// Where the dataplane token comes from; a file is re-read on every reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `--dataplane-token-file` / `KUMA_DATAPLANE_RUNTIME_TOKEN_PATH`.
    File(PathBuf),
    /// `KUMA_DATAPLANE_RUNTIME_TOKEN`.
    Inline(String),
}

/// Why the flags do not make a runnable configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither a CA file nor CA PEM text.
    #[error(
        "the CA certificate of the control plane is required: pass --ca-cert-file or set \
         KUMA_CONTROL_PLANE_CA_CERT"
    )]
    NoCa,
    /// No token source, or an empty token.
    #[error("{TOKEN_REQUIRED}")]
    NoToken,
    /// The token file could not be read.
    #[error("reading the dataplane token file {path}")]
    ReadToken {
        /// The file.
        path: PathBuf,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The resource file could not be read.
    #[error("reading the dataplane resource file {path}")]
    ReadResource {
        /// The file.
        path: PathBuf,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The resource is neither YAML nor JSON, or is not an object.
    #[error("the dataplane resource is not a YAML or JSON object")]
    Resource(#[source] Option<serde_yaml_ng::Error>),
    /// The name is missing.
    #[error("the name of the data plane proxy is required: pass --name or a resource with a name")]
    NoName,
    /// The address is not `https://host:port`.
    #[error("invalid --cp-address {0:?}: expected https://HOST:PORT")]
    Address(String),
}

/// Everything `kuma-dp run` needs, resolved.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// `grpcs://host:port` for [`kuma_core::net::connect`].
    pub grpc_address: String,
    /// The host of `--cp-address`, which must be a SAN of the CP certificate.
    pub host: String,
    /// The CP CA.
    pub ca: CaSource,
    /// The token.
    pub token: TokenSource,
    /// Mesh of the proxy.
    pub mesh: String,
    /// Name of the proxy.
    pub name: String,
    /// The resource as JSON, or empty.
    pub resource_json: String,
    /// The proxy type.
    pub proxy_type: ProxyType,
    /// Where the admin endpoint listens.
    pub admin_addr: SocketAddr,
}

impl RunArgs {
    /// Resolves the flags; `env` looks up `KUMA_DATAPLANE_RUNTIME_TOKEN` and
    /// `KUMA_CONTROL_PLANE_CA_CERT`.
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Result<RunConfig, Error> {
        let (grpc_address, host) = grpc_address(&self.cp_address)?;
        let ca = match (&self.ca_cert_file, env("KUMA_CONTROL_PLANE_CA_CERT")) {
            (Some(path), _) => CaSource::File(path.clone()),
            (None, Some(pem)) if !pem.trim().is_empty() => CaSource::Pem(pem),
            (None, _) => return Err(Error::NoCa),
        };
        let token = match (&self.dataplane_token_file, env("KUMA_DATAPLANE_RUNTIME_TOKEN")) {
            (Some(path), _) => TokenSource::File(path.clone()),
            (None, Some(token)) if !token.trim().is_empty() => TokenSource::Inline(token),
            (None, _) => return Err(Error::NoToken),
        };
        let resource = match (&self.dataplane_file, &self.dataplane) {
            (Some(path), _) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| Error::ReadResource { path: path.clone(), source })?,
            ),
            (None, Some(text)) => Some(text.clone()),
            (None, None) => None,
        };
        let (resource_json, from_resource) = match resource {
            Some(text) => {
                let value = to_json(&text)?;
                let field = |f: &str| value.get(f).and_then(|v| v.as_str()).map(str::to_owned);
                (value.to_string(), (field("mesh"), field("name")))
            }
            None => (String::new(), (None, None)),
        };
        // A zone ingress serves every mesh and belongs to none.
        let mesh = match self.proxy_type {
            ProxyType::Ingress => String::new(),
            ProxyType::Dataplane => {
                from_resource.0.or_else(|| self.mesh.clone()).unwrap_or_else(|| "default".into())
            }
        };
        let name = from_resource.1.or_else(|| self.name.clone()).ok_or(Error::NoName)?;
        Ok(RunConfig {
            grpc_address,
            host,
            ca,
            token,
            mesh,
            name,
            resource_json,
            proxy_type: self.proxy_type,
            admin_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, self.admin_port)),
        })
    }
}

impl TokenSource {
    /// The current token (a file is read now); an empty one is [`Error::NoToken`].
    pub fn read(&self) -> Result<String, Error> {
        let token = match self {
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(|source| Error::ReadToken { path: path.clone(), source })?,
            Self::Inline(token) => token.clone(),
        };
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::NoToken);
        }
        Ok(token.to_owned())
    }
}

/// `https://host:port` → (`grpcs://host:port`, host without IPv6 brackets).
fn grpc_address(cp_address: &str) -> Result<(String, String), Error> {
    let bad = || Error::Address(cp_address.to_owned());
    let rest = cp_address.strip_prefix("https://").ok_or_else(bad)?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || authority.contains('/') || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok((format!("grpcs://{authority}"), host.to_owned()))
}

/// YAML (a superset of JSON) or JSON text → a JSON object.
fn to_json(text: &str) -> Result<serde_json::Value, Error> {
    let value: serde_json::Value =
        serde_yaml_ng::from_str(text).map_err(|e| Error::Resource(Some(e)))?;
    if !value.is_object() {
        return Err(Error::Resource(None));
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
