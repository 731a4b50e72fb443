//! kuma-cp configuration: environment variables and the YAML file, parsed into typed settings.
//!
//! Each setting is declared once, as a `Setting { env, yaml }` const beside the section that
//! loads it, so `grep KUMA_` lists them all. [`load`] reads the optional `kuma-cp.yaml` (Kuma's
//! camelCase keys; an unknown key is an error, as in Kuma's strict loader), then lets environment
//! variables override it, then fills Kuma 2.14's defaults. Empty values count as unset. Kuma 2.14
//! settings we do not implement are accepted and listed in [`CpConfig::ignored_keys`] and
//! [`CpConfig::ignored_env`] for the caller to warn about. Errors name the variable, or the file
//! and key. Only this module reads the process environment (through
//! [`Env`]); it does not create directories, read PEM or bind ports.

use std::path::Path;

use ::store::StoreConfig;
use serde_json::{Value, json};

mod access;
mod api_server;
mod error;
mod general;
mod kuma_keys;
mod limits;
mod multizone;
mod parse;
mod servers;
mod source;
mod store;
mod tls;
mod tokens;
mod yaml;

pub use access::{Access, Allowed};
pub use api_server::{ApiServer, Authn, AuthnType, Https, Listener};
pub use error::{Error, Origin, PostgresTlsProblem, Problem, ZoneNameProblem};
pub use general::General;
pub use limits::RateLimit;
pub use multizone::{
    CpToken, GlobalAddress, GlobalScheme, KdsAuth, KdsServer, Multizone, Zone, ZoneHealthCheck,
    ZoneName,
};
pub use servers::{Diagnostics, DpProxyAuthn, DpServer, Mads, ZoneProxyAuthn};
pub use source::{Env, Source};
pub use tls::{CertKeyFiles, TlsSettings, TlsVersion};
pub use tokens::{DpTokens, StaticPublicKey, UserTokens, ZoneTokens};

use source::{Loader, Setting};

/// Every variable that sets the port of a listener kuma-cp opens, in any mode. Tests and
/// benchmarks that start control planes set each to 0 (or a port of their choice) from this
/// list, so a new listener cannot be forgotten in one of them; a config test checks that every
/// `*_PORT` variable the loader reads is here.
pub const LISTENER_PORTS: [&str; 6] = [
    "KUMA_API_SERVER_HTTP_PORT",
    "KUMA_API_SERVER_HTTPS_PORT",
    "KUMA_DIAGNOSTICS_SERVER_PORT",
    "KUMA_DP_SERVER_PORT",
    "KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT",
    "KUMA_MONITORING_ASSIGNMENT_SERVER_PORT",
];

const MODE: Setting = Setting { env: "KUMA_MODE", yaml: "mode" };
const SKIP_MESH_CREATION: Setting =
    Setting { env: "KUMA_DEFAULTS_SKIP_MESH_CREATION", yaml: "defaults.skipMeshCreation" };
const ENVIRONMENT: Setting = Setting { env: "KUMA_ENVIRONMENT", yaml: "environment" };
const CREATE_MESH_ROUTING_RESOURCES: Setting = Setting {
    env: "KUMA_DEFAULTS_CREATE_MESH_ROUTING_RESOURCES",
    yaml: "defaults.createMeshRoutingResources",
};
/// Read only to default the work directory to `$HOME/.kuma`.
const HOME: &str = "HOME";

/// The whole effective kuma-cp configuration.
///
/// TLS precedence differs from Kuma: a server's own `*_TLS_MIN_VERSION` (and max version and
/// cipher suites), when set, wins over `KUMA_GENERAL_TLS_*`; the general values fill in only
/// what a server leaves unset. Kuma instead lets the general min version overwrite them all.
#[derive(Debug, Clone)]
pub struct CpConfig {
    /// `KUMA_MODE` (`zone`).
    pub mode: Mode,
    /// `KUMA_ENVIRONMENT` (`universal`, the only one supported).
    pub environment: Environment,
    /// `general.*`.
    pub general: General,
    /// `store.*`: the backend. Ours defaults to SQLite at `<work_dir>/kuma.db`.
    pub store: StoreConfig,
    /// `apiServer.*`.
    pub api_server: ApiServer,
    /// `diagnostics.*`.
    pub diagnostics: Diagnostics,
    /// `dpServer.*`.
    pub dp_server: DpServer,
    /// `multizone.*`.
    pub multizone: Multizone,
    /// `monitoringAssignmentServer.*`.
    pub monitoring_assignment_server: Mads,
    /// `access.*`.
    pub access: Access,
    /// `defaults.*`: what a new deployment and each new mesh are given.
    pub defaults: Defaults,
    /// Keys of the file that are Kuma 2.14 settings we do not implement, sorted: accepted and
    /// otherwise ignored, for one warning at startup.
    pub ignored_keys: Vec<String>,
    /// `KUMA_*` environment variables that name Kuma settings we do not implement (or YAML-only
    /// ones), sorted: ignored, for one warning at startup.
    pub ignored_env: Vec<String>,
}

/// `defaults.*`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Defaults {
    /// `KUMA_DEFAULTS_SKIP_MESH_CREATION` (false): do not create the `default` Mesh.
    pub skip_mesh_creation: bool,
    /// `KUMA_DEFAULTS_CREATE_MESH_ROUTING_RESOURCES` (false, as in Kuma 2.14): give each new mesh
    /// the TrafficPermission `allow-all-<mesh>`. Without it, a mesh with mTLS denies all traffic
    /// until a permission allows it.
    pub create_mesh_routing_resources: bool,
}

/// Which control plane this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `global`: serves KDS to zones.
    Global,
    /// `zone` (or the deprecated `standalone`): serves data plane proxies.
    Zone,
}

/// Where the control plane runs. Kubernetes is rejected at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// `universal`: VMs or containers, resources in the store.
    Universal,
}

impl Mode {
    /// Kuma's spelling, with `standalone` as `zone`.
    pub fn parse(value: &str) -> Result<Self, Problem> {
        match value {
            "global" => Ok(Self::Global),
            "zone" | "standalone" => Ok(Self::Zone),
            _ => Err(Problem::Mode),
        }
    }

    /// Kuma's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Zone => "zone",
        }
    }
}

impl Environment {
    fn parse(value: &str) -> Result<Self, Problem> {
        match value {
            "universal" => Ok(Self::Universal),
            "kubernetes" => Err(Problem::Kubernetes),
            other => Err(Problem::OneOf { value: other.to_owned(), allowed: "universal" }),
        }
    }
}

/// Loads the configuration: `file` (if any), overridden by `source`, over the defaults.
pub fn load(source: &impl Source, file: Option<&Path>) -> Result<CpConfig, Error> {
    let loader = Loader::new(source, file)?;
    let mode = loader.or(&MODE, Mode::Zone, Mode::parse)?;
    let environment = loader.or(&ENVIRONMENT, Environment::Universal, Environment::parse)?;
    let general = General::load(&loader, source.get(HOME))?;
    let store = store::load(&loader, &general.work_dir)?;
    let api_server = ApiServer::load(&loader, &general.tls)?;
    let diagnostics = Diagnostics::load(&loader, &general.tls)?;
    let dp_server = DpServer::load(&loader, &general.tls)?;
    let multizone = Multizone::load(&loader, &general.tls)?;
    let monitoring_assignment_server = Mads::load(&loader, &general.tls)?;
    let access = Access::load(&loader)?;
    let defaults = Defaults {
        skip_mesh_creation: loader.or(&SKIP_MESH_CREATION, false, parse::boolean)?,
        create_mesh_routing_resources: loader.or(
            &CREATE_MESH_ROUTING_RESOURCES,
            false,
            parse::boolean,
        )?,
    };
    let ignored = loader.finish()?;
    Ok(CpConfig {
        mode,
        environment,
        general,
        store,
        api_server,
        diagnostics,
        dp_server,
        multizone,
        monitoring_assignment_server,
        access,
        defaults,
        ignored_keys: ignored.keys,
        ignored_env: ignored.env,
    })
}

impl CpConfig {
    /// A zone CP connected to a global: zone mode, a global address and a zone name.
    pub fn is_federated_zone(&self) -> bool {
        self.mode == Mode::Zone
            && self.multizone.zone.global_address.is_some()
            && !self.multizone.zone.name.as_str().is_empty()
    }

    /// The effective configuration in `kuma-cp.yaml` shape (camelCase keys, nested as in the
    /// file), for `GET /config` and the startup log. The store password and an inline zone CP
    /// token show as `*****`.
    pub fn to_json(&self) -> Value {
        json!({
            "mode": self.mode.as_str(),
            "environment": "universal",
            "general": self.general.to_json(),
            "store": store::to_json(&self.store),
            "apiServer": self.api_server.to_json(),
            "diagnostics": self.diagnostics.to_json(),
            "dpServer": self.dp_server.to_json(),
            "multizone": self.multizone.to_json(),
            "monitoringAssignmentServer": self.monitoring_assignment_server.to_json(),
            "access": self.access.to_json(),
            "defaults": {
                "skipMeshCreation": self.defaults.skip_mesh_creation,
                "createMeshRoutingResources": self.defaults.create_mesh_routing_resources,
            },
            "xdsServer": {
                "dataplaneStatusFlushInterval":
                    parse::format_duration(self.dp_server.xds_status_flush_interval),
            },
        })
    }
}

/// Adds `extra`'s keys to the object `into` (both are objects built by the `to_json`s here).
fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(into), Value::Object(extra)) = (into, extra) {
        into.extend(extra);
    }
}

#[cfg(test)]
mod tests;
