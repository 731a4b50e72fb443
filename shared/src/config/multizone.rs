//! `multizone.*`: the global's KDS server here, the zone's side in `zone`.
//!
//! The global's settings include how it authenticates zones (`authType`, a client CA). Files are
//! only checked to open: PEM content is not looked at, `kuma_core::tls` parses it.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::{Value, json};

use super::error::{Error, Problem};
use super::limits::{RateLimit, RateLimitKeys};
use super::parse::{self, format_duration};
use super::source::{Loader, Setting};
use super::tls::{CertKeyFiles, TlsKeys, TlsSettings};

mod zone;

pub use zone::{CpToken, GlobalAddress, GlobalScheme, Zone, ZoneName};

const fn m(env: &'static str, yaml: &'static str) -> Setting {
    Setting { env, yaml }
}

const GRPC_PORT: Setting =
    m("KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT", "multizone.global.kds.grpcPort");
const GLOBAL_REFRESH: Setting =
    m("KUMA_MULTIZONE_GLOBAL_KDS_REFRESH_INTERVAL", "multizone.global.kds.refreshInterval");
const TLS_ENABLED: Setting =
    m("KUMA_MULTIZONE_GLOBAL_KDS_TLS_ENABLED", "multizone.global.kds.tlsEnabled");
const CERT: Setting =
    m("KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE", "multizone.global.kds.tlsCertFile");
const KEY: Setting = m("KUMA_MULTIZONE_GLOBAL_KDS_TLS_KEY_FILE", "multizone.global.kds.tlsKeyFile");
const CLIENT_CA_FILE: Setting =
    m("KUMA_MULTIZONE_GLOBAL_KDS_TLS_CLIENT_CA_FILE", "multizone.global.kds.tlsClientCaFile");
const AUTH_TYPE: Setting =
    m("KUMA_MULTIZONE_GLOBAL_KDS_AUTH_TYPE", "multizone.global.kds.authType");
const TLS: TlsKeys = TlsKeys {
    min: m("KUMA_MULTIZONE_GLOBAL_KDS_TLS_MIN_VERSION", "multizone.global.kds.tlsMinVersion"),
    max: m("KUMA_MULTIZONE_GLOBAL_KDS_TLS_MAX_VERSION", "multizone.global.kds.tlsMaxVersion"),
    ciphers: m(
        "KUMA_MULTIZONE_GLOBAL_KDS_TLS_CIPHER_SUITES",
        "multizone.global.kds.tlsCipherSuites",
    ),
};
const GLOBAL_MAX_MSG: Setting =
    m("KUMA_MULTIZONE_GLOBAL_KDS_MAX_MSG_SIZE", "multizone.global.kds.maxMsgSize");
const ALLOWED_CIDRS: Setting =
    m("KUMA_MULTIZONE_GLOBAL_KDS_ALLOWED_CIDRS", "multizone.global.kds.allowedCidrs");
const NACK_BACKOFF: Setting =
    m("KUMA_MULTIZONE_GLOBAL_KDS_NACK_BACKOFF", "multizone.global.kds.nackBackoff");
const HEALTH_POLL: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_POLL_INTERVAL",
    "multizone.global.kds.zoneHealthCheck.pollInterval",
);
const HEALTH_TIMEOUT: Setting = m(
    "KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_TIMEOUT",
    "multizone.global.kds.zoneHealthCheck.timeout",
);
const RATE_LIMIT: RateLimitKeys = RateLimitKeys {
    per_second: m(
        "KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_PER_SECOND",
        "multizone.global.kds.rateLimit.perSecond",
    ),
    burst: m("KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_BURST", "multizone.global.kds.rateLimit.burst"),
    max_concurrent: m(
        "KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_MAX_CONNECTIONS",
        "multizone.global.kds.rateLimit.maxConnections",
    ),
};
const DEFAULT_GRPC_PORT: u16 = 5685;
/// Connections per zone address: a zone holds one and reconnects with backoff, so 5 a second
/// (burst 50) and 100 open leave room for many zones behind one NAT and for restarts.
const DEFAULT_RATE_LIMIT: RateLimit = RateLimit { per_second: 5, burst: 50, max_concurrent: 100 };
const DEFAULT_REFRESH: Duration = Duration::from_secs(1);
const DEFAULT_MAX_MSG: u32 = 10 * 1024 * 1024;
const DEFAULT_NACK_BACKOFF: Duration = Duration::from_secs(5);
/// What a secret shows as in the effective config.
const REDACTED: &str = "*****";

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
    /// `KUMA_MULTIZONE_GLOBAL_KDS_TLS_CLIENT_CA_FILE` (our extension, unset): PEM roots for zone
    /// client certificates. When set, the global requires a client certificate signed by them;
    /// it needs TLS enabled. Checked readable.
    pub client_ca_file: Option<PathBuf>,
    /// `KUMA_MULTIZONE_GLOBAL_KDS_AUTH_TYPE` (our extension, `zoneToken`): how the global
    /// authenticates zone CPs.
    pub auth: KdsAuth,
    /// `KUMA_MULTIZONE_GLOBAL_KDS_MAX_MSG_SIZE` (10 MiB).
    pub max_msg_size: u32,
    /// `KUMA_MULTIZONE_GLOBAL_KDS_ALLOWED_CIDRS` (our extension): zone CPs may connect only
    /// from these networks; empty allows every address.
    pub allowed_cidrs: Vec<IpNet>,
    /// `KUMA_MULTIZONE_GLOBAL_KDS_NACK_BACKOFF` (5s).
    pub nack_backoff: Duration,
    /// `..._ZONE_HEALTH_CHECK_POLL_INTERVAL` and `_TIMEOUT`, set together or not at all.
    pub zone_health_check: Option<ZoneHealthCheck>,
    /// `KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_*` (5/s, burst 50, 100 open; our extension): new
    /// connections per zone address, checked after the allowlist and before TLS.
    pub rate_limit: RateLimit,
}

/// How the global authenticates a zone CP on KDS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdsAuth {
    /// `zoneToken`: the zone sends a zone token with scope `cp`, as in Kong Mesh.
    ZoneToken,
    /// `none`: any zone may connect, as in OSS Kuma (only the allowlists still apply).
    None,
}

/// How the global decides a zone went offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneHealthCheck {
    /// How often zones ping and the global looks.
    pub poll_interval: Duration,
    /// Silence after which a zone counts as offline.
    pub timeout: Duration,
}

impl KdsAuth {
    /// `zoneToken` or `none`.
    pub fn parse(value: &str) -> Result<Self, Problem> {
        match value {
            "zoneToken" => Ok(Self::ZoneToken),
            "none" => Ok(Self::None),
            other => Err(Problem::OneOf { value: other.to_owned(), allowed: "zoneToken, none" }),
        }
    }

    /// The spelling `parse` accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ZoneToken => "zoneToken",
            Self::None => "none",
        }
    }
}

impl Multizone {
    pub(super) fn load(loader: &Loader<'_>, general: &TlsSettings) -> Result<Self, Error> {
        Ok(Self { global: KdsServer::load(loader, general)?, zone: Zone::load(loader)? })
    }

    pub(super) fn to_json(&self) -> Value {
        let g = &self.global;
        let (cert, key) = CertKeyFiles::json_pair(g.tls_files.as_ref());
        let health = g
            .zone_health_check
            .unwrap_or(ZoneHealthCheck { poll_interval: Duration::ZERO, timeout: Duration::ZERO });
        let mut kds = json!({
            "grpcPort": g.grpc_port,
            "refreshInterval": format_duration(g.refresh_interval),
            "tlsEnabled": g.tls_enabled,
            "tlsCertFile": cert,
            "tlsKeyFile": key,
            "tlsClientCaFile": g.client_ca_file.clone().unwrap_or_default(),
            "authType": g.auth.as_str(),
            "maxMsgSize": g.max_msg_size,
            "rateLimit": g.rate_limit.to_json("maxConnections"),
            "allowedCidrs": g.allowed_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "nackBackoff": format_duration(g.nack_backoff),
            "zoneHealthCheck": {
                "pollInterval": format_duration(health.poll_interval),
                "timeout": format_duration(health.timeout),
            },
        });
        super::merge(&mut kds, g.tls.to_json());
        json!({
            "global": { "kds": kds },
            "zone": self.zone.to_json(),
        })
    }
}

impl KdsServer {
    fn load(loader: &Loader<'_>, general: &TlsSettings) -> Result<Self, Error> {
        let poll = loader.or(&HEALTH_POLL, Duration::ZERO, parse::duration)?;
        let timeout = loader.or(&HEALTH_TIMEOUT, Duration::ZERO, parse::duration)?;
        let zone_health_check = match (poll.is_zero(), timeout.is_zero()) {
            (true, true) => None,
            (false, false) => Some(ZoneHealthCheck { poll_interval: poll, timeout }),
            (poll_unset, _) => {
                let missing = if poll_unset { &HEALTH_POLL } else { &HEALTH_TIMEOUT };
                return Err(Error::Invalid {
                    at: loader.origin(missing),
                    problem: Problem::ZoneHealthCheck,
                });
            }
        };
        let tls_enabled = loader.or(&TLS_ENABLED, true, parse::boolean)?;
        let client_ca_file = loader.file(&CLIENT_CA_FILE, "certificate")?;
        if client_ca_file.is_some() && !tls_enabled {
            return Err(Error::Invalid {
                at: loader.origin(&CLIENT_CA_FILE),
                problem: Problem::ClientCaWithoutTls(loader.origin(&TLS_ENABLED)),
            });
        }
        Ok(Self {
            grpc_port: loader.or(&GRPC_PORT, DEFAULT_GRPC_PORT, parse::port)?,
            refresh_interval: loader.or(&GLOBAL_REFRESH, DEFAULT_REFRESH, parse::duration)?,
            tls_enabled,
            tls_files: CertKeyFiles::load(loader, &CERT, &KEY)?,
            tls: TlsSettings::load(loader, &TLS, general)?,
            client_ca_file,
            auth: loader.or(&AUTH_TYPE, KdsAuth::ZoneToken, KdsAuth::parse)?,
            max_msg_size: loader.or(&GLOBAL_MAX_MSG, DEFAULT_MAX_MSG, parse::number)?,
            allowed_cidrs: loader.list(&ALLOWED_CIDRS, parse::cidr)?.unwrap_or_default(),
            nack_backoff: loader.or(&NACK_BACKOFF, DEFAULT_NACK_BACKOFF, parse::duration)?,
            zone_health_check,
            rate_limit: RateLimit::load(loader, &RATE_LIMIT, DEFAULT_RATE_LIMIT)?,
        })
    }
}
