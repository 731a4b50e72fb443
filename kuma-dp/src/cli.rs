//! The command line: `kuma-dp run` flags and the environment variables Kuma's kuma-dp reads, and
//! their resolution into a [`RunConfig`] (the CA, the token source, the resource as JSON, how
//! Envoy runs).
//!
//! This module only parses and validates; it must not open connections or start tasks.
//! Variables that tests must vary without touching the process environment (the token, the CA
//! PEM, the readiness port and the xDS variant) are read through an injected lookup.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::envoy::{self, AdsVariant};

/// Kuma's message when no token can be found (`app/kuma-dp/pkg/dataplane/...`).
pub const TOKEN_REQUIRED: &str = "Dataplane Token is required. Generate token using 'kumactl \
     generate dataplane-token > /path/file' and provide it via \
     --dataplane-token-file=/path/file argument to Kuma DP";

/// `--binary-path`.
const BINARY_PATH: &str = "KUMA_DATAPLANE_RUNTIME_BINARY_PATH";
/// The port of the readiness endpoint on 127.0.0.1 (Kuma's name; no flag, as in Kuma).
const READINESS_PORT: &str = "KUMA_READINESS_PORT";
/// Kuma's default readiness port.
const DEFAULT_READINESS_PORT: u16 = 9902;
/// `GRPC` (state of the world) or `DELTA_GRPC` (the default) for Envoy's ADS stream.
const XDS_VARIANT: &str = "KUMA_DATAPLANE_RUNTIME_ENVOY_XDS_TRANSPORT_PROTOCOL_VARIANT";
/// Envoy's log levels (`warn` is Envoy's alias of `warning`).
const ENVOY_LOG_LEVELS: &[&str] =
    &["trace", "debug", "info", "warning", "warn", "error", "critical", "off"];

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
    /// Run Envoy, connect it and kuma-dp to the control plane, and keep an identity certificate.
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
    /// The Envoy binary: a path, or a name looked up next to kuma-dp and then on PATH.
    #[arg(long, env = BINARY_PATH, default_value = "envoy")]
    pub binary_path: PathBuf,
    /// Envoy worker threads; 0 lets Envoy use one per CPU it may run on (`--cpuset-threads`).
    #[arg(long, env = "KUMA_DATAPLANE_RUNTIME_CONCURRENCY", default_value_t = 0)]
    pub concurrency: u32,
    /// How long Envoy drains connections after SIGTERM before it is stopped (`30s`, `500ms`).
    #[arg(long, env = "KUMA_DATAPLANE_DRAIN_TIME", default_value = "30s", value_parser = parse_duration)]
    pub drain_time: Duration,
    /// Envoy's log level: trace, debug, info, warning, error, critical or off.
    #[arg(long, env = "KUMA_DATAPLANE_RUNTIME_ENVOY_LOG_LEVEL", default_value = "info", value_parser = parse_log_level)]
    pub envoy_log_level: String,
    /// Per-component Envoy log levels, `upstream:debug,connection:trace`.
    #[arg(long, env = "KUMA_DATAPLANE_RUNTIME_ENVOY_COMPONENT_LOG_LEVEL", value_parser = parse_component_log_level)]
    pub envoy_component_log_level: Option<String>,
    /// Accepted for Kuma's command lines; kuma-rs has no DNS proxy, so `true` only warns.
    #[arg(
        long,
        env = "KUMA_DNS_ENABLED",
        default_value_t = false,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub dns_enabled: bool,
    /// Directory for the bootstrap and the Unix sockets of Envoy's admin and of SDS (default: a
    /// new temporary `kuma-dp-*` directory, removed on exit).
    #[arg(long, env = "KUMA_DATAPLANE_RUNTIME_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
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
    /// `KUMA_READINESS_PORT` is not a port number.
    #[error("{READINESS_PORT}: {0:?} is not a port number")]
    ReadinessPort(String),
    /// The xDS variant is neither `GRPC` nor `DELTA_GRPC`.
    #[error("{XDS_VARIANT}: {0:?} is not GRPC or DELTA_GRPC")]
    XdsVariant(String),
}

/// Everything `kuma-dp run` needs, resolved.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// `grpcs://host:port` for [`kuma_core::net::connect`].
    pub grpc_address: String,
    /// The host of `--cp-address`, which must be a SAN of the CP certificate.
    pub host: String,
    /// The port of `--cp-address`.
    pub port: u16,
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
    /// Where the readiness endpoint (`/ready`, `/certs`) listens.
    pub readiness_addr: SocketAddr,
    /// `--work-dir`, or `None` for a temporary directory.
    pub work_dir: Option<PathBuf>,
    /// How Envoy runs.
    pub envoy: envoy::Config,
    /// `--dns-enabled` (only warned about: there is no DNS proxy).
    pub dns_enabled: bool,
}

impl RunArgs {
    /// Resolves the flags; `env` looks up `KUMA_DATAPLANE_RUNTIME_TOKEN`,
    /// `KUMA_CONTROL_PLANE_CA_CERT`, `KUMA_READINESS_PORT` and the xDS variant.
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Result<RunConfig, Error> {
        let (grpc_address, host, port) = grpc_address(&self.cp_address)?;
        let readiness_port = match env(READINESS_PORT) {
            Some(value) => value.trim().parse().map_err(|_| Error::ReadinessPort(value))?,
            None => DEFAULT_READINESS_PORT,
        };
        let ads = match env(XDS_VARIANT).as_deref().map(str::trim) {
            None | Some("" | "DELTA_GRPC") => AdsVariant::Delta,
            Some("GRPC") => AdsVariant::StateOfTheWorld,
            Some(other) => return Err(Error::XdsVariant(other.to_owned())),
        };
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
            port,
            ca,
            token,
            mesh,
            name,
            resource_json,
            proxy_type: self.proxy_type,
            readiness_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, readiness_port)),
            work_dir: self.work_dir.clone(),
            envoy: envoy::Config {
                binary: self.binary_path.clone(),
                search_dirs: search_dirs(env("PATH")),
                concurrency: self.concurrency,
                drain_time: self.drain_time,
                log_level: self.envoy_log_level.clone(),
                component_log_level: self.envoy_component_log_level.clone(),
                ads,
            },
            dns_enabled: self.dns_enabled,
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

/// `https://host:port` → (`grpcs://host:port`, host without IPv6 brackets, port).
fn grpc_address(cp_address: &str) -> Result<(String, String, u16), Error> {
    let bad = || Error::Address(cp_address.to_owned());
    let rest = cp_address.strip_prefix("https://").ok_or_else(bad)?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || authority.contains('/') {
        return Err(bad());
    }
    Ok((format!("grpcs://{authority}"), host.to_owned(), port))
}

/// kuma-dp's own directory, then each directory of `path` (PATH).
fn search_dirs(path: Option<String>) -> Vec<PathBuf> {
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(PathBuf::from));
    beside.into_iter().chain(path.iter().flat_map(std::env::split_paths)).collect()
}

/// Go's duration syntax as Kuma's flags take it, without fractions: `30s`, `500ms`, `1m30s`, `0`.
fn parse_duration(value: &str) -> Result<Duration, String> {
    let bad = || format!("{value:?} is not a duration such as 30s, 500ms or 1m30s");
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    if value.is_empty() {
        return Err(bad());
    }
    let mut rest = value;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let amount: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let amount = u32::try_from(amount).map_err(|_| bad())?;
        total += unit.checked_mul(amount).ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

fn parse_log_level(value: &str) -> Result<String, String> {
    if ENVOY_LOG_LEVELS.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(format!("{value:?} is not one of {}", ENVOY_LOG_LEVELS.join(", ")))
    }
}

/// `component:level` pairs joined by commas, each level one of Envoy's.
fn parse_component_log_level(value: &str) -> Result<String, String> {
    for pair in value.split(',') {
        let level = match pair.split_once(':') {
            Some((component, level)) if !component.is_empty() => level,
            _ => return Err(format!("{pair:?} is not COMPONENT:LEVEL")),
        };
        parse_log_level(level)?;
    }
    Ok(value.to_owned())
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
