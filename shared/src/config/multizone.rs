//! `multizone.*`: the global's KDS server and the zone's name, global address and KDS client.
//!
//! Kuma's zone rules live here ([`ZoneName`], the global address scheme, the root CA file that
//! must be readable). PEM content is not looked at: `shared::tls` parses it.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::{Value, json};

use super::error::{Error, Problem, ZoneNameProblem};
use super::parse::{self, format_duration};
use super::source::{Loader, Setting};
use super::tls::{CertKeyFiles, TlsKeys, TlsSettings};

const fn m(env: &'static str, yaml: &'static str) -> Setting {
    Setting { env, yaml }
}

const GRPC_PORT: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT",
    "multizone.global.kds.grpcPort",
);
const GLOBAL_REFRESH: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_REFRESH_INTERVAL",
    "multizone.global.kds.refreshInterval",
);
const TLS_ENABLED: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_TLS_ENABLED",
    "multizone.global.kds.tlsEnabled",
);
const CERT: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE",
    "multizone.global.kds.tlsCertFile",
);
const KEY: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_TLS_KEY_FILE",
    "multizone.global.kds.tlsKeyFile",
);
const TLS: TlsKeys = TlsKeys {
    min: m(
        "KUMA_MULTIZONE_GLOBAL_KDS_TLS_MIN_VERSION",
        "multizone.global.kds.tlsMinVersion",
    ),
    max: m(
        "KUMA_MULTIZONE_GLOBAL_KDS_TLS_MAX_VERSION",
        "multizone.global.kds.tlsMaxVersion",
    ),
    ciphers: m(
        "KUMA_MULTIZONE_GLOBAL_KDS_TLS_CIPHER_SUITES",
        "multizone.global.kds.tlsCipherSuites",
    ),
};
const GLOBAL_MAX_MSG: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_MAX_MSG_SIZE",
    "multizone.global.kds.maxMsgSize",
);
const ALLOWED_CIDRS: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_ALLOWED_CIDRS",
    "multizone.global.kds.allowedCidrs",
);
const NACK_BACKOFF: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_NACK_BACKOFF",
    "multizone.global.kds.nackBackoff",
);
const HEALTH_POLL: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_POLL_INTERVAL",
    "multizone.global.kds.zoneHealthCheck.pollInterval",
);
const HEALTH_TIMEOUT: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_TIMEOUT",
    "multizone.global.kds.zoneHealthCheck.timeout",
);
const ZONE_NAME: Setting = m("KUMA_MULTIZONE_ZONE_NAME", "multizone.zone.name");
const GLOBAL_ADDRESS: Setting = m(
    "KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS",
    "multizone.zone.globalAddress",
);
const ZONE_REFRESH: Setting = m(
    "KUMA_MULTIZONE_ZONE_KDS_REFRESH_INTERVAL",
    "multizone.zone.kds.refreshInterval",
);
const ROOT_CA_FILE: Setting = m(
    "KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE",
    "multizone.zone.kds.rootCaFile",
);
const SKIP_VERIFY: Setting = m(
    "KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY",
    "multizone.zone.kds.tlsSkipVerify",
);
const ZONE_MAX_MSG: Setting = m(
    "KUMA_MULTIZONE_ZONE_KDS_MAX_MSG_SIZE",
    "multizone.zone.kds.maxMsgSize",
);

const DEFAULT_GRPC_PORT: u16 = 5685;
const DEFAULT_REFRESH: Duration = Duration::from_secs(1);
const DEFAULT_MAX_MSG: u32 = 10 * 1024 * 1024;
const DEFAULT_NACK_BACKOFF: Duration = Duration::from_secs(5);
const DEFAULT_ZONE_NAME: &str = "default";

/// `multizone.*`.
#[derive(Debug, Clone)]
pub struct Multizone {
    /// `multizone.global.kds.*`: used when running as global.
    pub global: KdsServer,
    /// `multizone.zone.*`: used when running as zone.
    pub zone: Zone,
}

/// The global's KDS gRPC server.
#[derive(Debug, Clone)]
pub struct KdsServer {
    /// `KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT` (5685).
    pub grpc_port: u16,
    /// `KUMA_MULTIZONE_GLOBAL_KDS_REFRESH_INTERVAL` (1s).
    pub refresh_interval: Duration,
    /// `KUMA_MULTIZONE_GLOBAL_KDS_TLS_ENABLED` (true).
    pub tls_enabled: bool,
    /// `..._TLS_CERT_FILE` / `_KEY_FILE`; `None`: the general certificate.
    pub tls_files: Option<CertKeyFiles>,
    /// Versions and ciphers, merged with the general ones.
    pub tls: TlsSettings,
    /// `KUMA_MULTIZONE_GLOBAL_KDS_MAX_MSG_SIZE` (10 MiB).
    pub max_msg_size: u32,
    /// `KUMA_MULTIZONE_GLOBAL_KDS_ALLOWED_CIDRS` (our extension): zone CPs may connect only
    /// from these networks; empty allows every address.
    pub allowed_cidrs: Vec<IpNet>,
    /// `KUMA_MULTIZONE_GLOBAL_KDS_NACK_BACKOFF` (5s).
    pub nack_backoff: Duration,
    /// `..._ZONE_HEALTH_CHECK_POLL_INTERVAL` and `_TIMEOUT`, set together or not at all.
    pub zone_health_check: Option<ZoneHealthCheck>,
}

/// How the global decides a zone went offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneHealthCheck {
    /// How often zones ping and the global looks.
    pub poll_interval: Duration,
    /// Silence after which a zone counts as offline.
    pub timeout: Duration,
}

/// `multizone.zone.*`.
#[derive(Debug, Clone)]
pub struct Zone {
    /// `KUMA_MULTIZONE_ZONE_NAME` (`default`).
    pub name: ZoneName,
    /// `KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS`: set for a zone federated with a global.
    pub global_address: Option<GlobalAddress>,
    /// `KUMA_MULTIZONE_ZONE_KDS_REFRESH_INTERVAL` (1s).
    pub refresh_interval: Duration,
    /// `KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE`: PEM roots for the global's certificate; `None`
    /// uses the system roots. Checked readable.
    pub root_ca_file: Option<PathBuf>,
    /// `KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY` (false): do not verify the global at all.
    pub tls_skip_verify: bool,
    /// `KUMA_MULTIZONE_ZONE_KDS_MAX_MSG_SIZE` (10 MiB).
    pub max_msg_size: u32,
}

/// A zone name that passed Kuma's rules: a DNS name of at most 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ZoneName(String);

/// The global's KDS address as `grpc://host:port` or `grpcs://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalAddress {
    url: String,
    scheme: GlobalScheme,
}

/// Whether the zone talks TLS to the global.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalScheme {
    /// `grpc://`: plaintext.
    Grpc,
    /// `grpcs://`: TLS.
    Grpcs,
}

impl ZoneName {
    /// Applies Kuma's rules, with Kuma's messages.
    pub fn parse(name: &str) -> Result<Self, ZoneNameProblem> {
        if name.is_empty() {
            return Err(ZoneNameProblem::Empty);
        }
        if !is_dns_name(name) {
            return Err(ZoneNameProblem::NotDns(name.to_owned()));
        }
        if name.len() > 63 {
            return Err(ZoneNameProblem::TooLong);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// govalidator's `IsDNSName`, which Kuma uses: labels of `[A-Za-z0-9_][A-Za-z0-9_-]{0,62}`,
/// an optional trailing dot, and not an IP address.
fn is_dns_name(name: &str) -> bool {
    if name.replace('.', "").len() > 255 || name.parse::<IpAddr>().is_ok() {
        return false;
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    trimmed.split('.').all(|label| {
        let mut chars = label.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        first_ok
            && label.len() <= 63
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

impl GlobalAddress {
    /// Accepts `grpc://` and `grpcs://` URLs, with Kuma's message otherwise.
    pub fn parse(value: &str) -> Result<Self, Problem> {
        // As Go's url.Parse: the scheme is what precedes the first ':' when it looks like one.
        let scheme = value
            .split_once(':')
            .map(|(s, _)| s)
            .filter(|s| {
                s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            })
            .unwrap_or("")
            .to_ascii_lowercase();
        let scheme = match scheme.as_str() {
            "grpc" => GlobalScheme::Grpc,
            "grpcs" => GlobalScheme::Grpcs,
            _ => return Err(Problem::GlobalAddressScheme(scheme)),
        };
        Ok(Self {
            url: value.to_owned(),
            scheme,
        })
    }

    /// The address as configured.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `grpc` or `grpcs`.
    pub fn scheme(&self) -> GlobalScheme {
        self.scheme
    }

    /// `host:port`, without scheme or path.
    pub fn authority(&self) -> &str {
        let rest = self.url.split_once("://").map_or("", |(_, rest)| rest);
        rest.split('/').next().unwrap_or(rest)
    }
}

impl Multizone {
    pub(super) fn load(loader: &Loader<'_>, general: &TlsSettings) -> Result<Self, Error> {
        Ok(Self {
            global: KdsServer::load(loader, general)?,
            zone: Zone::load(loader)?,
        })
    }

    pub(super) fn to_json(&self) -> Value {
        let g = &self.global;
        let (cert, key) = CertKeyFiles::json_pair(g.tls_files.as_ref());
        let health = g.zone_health_check.unwrap_or(ZoneHealthCheck {
            poll_interval: Duration::ZERO,
            timeout: Duration::ZERO,
        });
        let mut kds = json!({
            "grpcPort": g.grpc_port,
            "refreshInterval": format_duration(g.refresh_interval),
            "tlsEnabled": g.tls_enabled,
            "tlsCertFile": cert,
            "tlsKeyFile": key,
            "maxMsgSize": g.max_msg_size,
            "allowedCidrs": g.allowed_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "nackBackoff": format_duration(g.nack_backoff),
            "zoneHealthCheck": {
                "pollInterval": format_duration(health.poll_interval),
                "timeout": format_duration(health.timeout),
            },
        });
        super::merge(&mut kds, g.tls.to_json());
        let z = &self.zone;
        json!({
            "global": { "kds": kds },
            "zone": {
                "name": z.name.as_str(),
                "globalAddress": z.global_address.as_ref().map_or("", GlobalAddress::url),
                "kds": {
                    "refreshInterval": format_duration(z.refresh_interval),
                    "rootCaFile": z.root_ca_file.clone().unwrap_or_default(),
                    "tlsSkipVerify": z.tls_skip_verify,
                    "maxMsgSize": z.max_msg_size,
                },
            },
        })
    }
}

impl KdsServer {
    fn load(loader: &Loader<'_>, general: &TlsSettings) -> Result<Self, Error> {
        let poll = loader.or(&HEALTH_POLL, Duration::ZERO, parse::duration)?;
        let timeout = loader.or(&HEALTH_TIMEOUT, Duration::ZERO, parse::duration)?;
        let zone_health_check = match (poll.is_zero(), timeout.is_zero()) {
            (true, true) => None,
            (false, false) => Some(ZoneHealthCheck {
                poll_interval: poll,
                timeout,
            }),
            (poll_unset, _) => {
                let missing = if poll_unset {
                    &HEALTH_POLL
                } else {
                    &HEALTH_TIMEOUT
                };
                return Err(Error::Invalid {
                    at: loader.origin(missing),
                    problem: Problem::ZoneHealthCheck,
                });
            }
        };
        Ok(Self {
            grpc_port: loader.or(&GRPC_PORT, DEFAULT_GRPC_PORT, parse::port)?,
            refresh_interval: loader.or(&GLOBAL_REFRESH, DEFAULT_REFRESH, parse::duration)?,
            tls_enabled: loader.or(&TLS_ENABLED, true, parse::boolean)?,
            tls_files: CertKeyFiles::load(loader, &CERT, &KEY)?,
            tls: TlsSettings::load(loader, &TLS, general)?,
            max_msg_size: loader.or(&GLOBAL_MAX_MSG, DEFAULT_MAX_MSG, parse::number)?,
            allowed_cidrs: loader
                .list(&ALLOWED_CIDRS, parse::cidr)?
                .unwrap_or_default(),
            nack_backoff: loader.or(&NACK_BACKOFF, DEFAULT_NACK_BACKOFF, parse::duration)?,
            zone_health_check,
        })
    }
}

impl Zone {
    fn load(loader: &Loader<'_>) -> Result<Self, Error> {
        let name = loader.or(&ZONE_NAME, DEFAULT_ZONE_NAME.to_owned(), parse::text)?;
        let name = ZoneName::parse(&name).map_err(|problem| Error::Invalid {
            at: loader.origin(&ZONE_NAME),
            problem: Problem::ZoneName(problem),
        })?;
        Ok(Self {
            name,
            global_address: loader.value(&GLOBAL_ADDRESS, GlobalAddress::parse)?,
            refresh_interval: loader.or(&ZONE_REFRESH, DEFAULT_REFRESH, parse::duration)?,
            root_ca_file: loader.file(&ROOT_CA_FILE, "certificate")?,
            tls_skip_verify: loader.or(&SKIP_VERIFY, false, parse::boolean)?,
            max_msg_size: loader.or(&ZONE_MAX_MSG, DEFAULT_MAX_MSG, parse::number)?,
        })
    }
}
