//! The smaller servers: the DP server (5678), diagnostics (5680) and MADS (5676).
//!
//! Settings only; nothing here binds a port.

use std::time::Duration;

use serde_json::{Value, json};

use super::error::{Error, Problem};
use super::limits::{RateLimit, RateLimitKeys};
use super::parse::{self, format_duration};
use super::source::{Loader, Setting};
use super::tls::{CertKeyFiles, TlsKeys, TlsSettings};
use super::tokens::{DpTokens, ZoneTokens};

const fn s(env: &'static str, yaml: &'static str) -> Setting {
    Setting { env, yaml }
}

const DP_PORT: Setting = s("KUMA_DP_SERVER_PORT", "dpServer.port");
const DP_CERT: Setting = s("KUMA_DP_SERVER_TLS_CERT_FILE", "dpServer.tlsCertFile");
const DP_KEY: Setting = s("KUMA_DP_SERVER_TLS_KEY_FILE", "dpServer.tlsKeyFile");
const DP_TLS: TlsKeys = TlsKeys {
    min: s("KUMA_DP_SERVER_TLS_MIN_VERSION", "dpServer.tlsMinVersion"),
    max: s("KUMA_DP_SERVER_TLS_MAX_VERSION", "dpServer.tlsMaxVersion"),
    ciphers: s("KUMA_DP_SERVER_TLS_CIPHER_SUITES", "dpServer.tlsCipherSuites"),
};
const DP_READ_HEADER_TIMEOUT: Setting =
    s("KUMA_DP_SERVER_READ_HEADER_TIMEOUT", "dpServer.readHeaderTimeout");
const DP_PROXY_AUTHN: Setting =
    s("KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE", "dpServer.authn.dpProxy.type");
const ZONE_PROXY_AUTHN: Setting =
    s("KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE", "dpServer.authn.zoneProxy.type");
const DP_MAX_MSG: Setting = s("KUMA_DP_SERVER_MAX_MSG_SIZE", "dpServer.maxMsgSize");
const XDS_STATUS_FLUSH: Setting =
    s("KUMA_XDS_DATAPLANE_STATUS_FLUSH_INTERVAL", "xdsServer.dataplaneStatusFlushInterval");
const DP_RATE_LIMIT: RateLimitKeys = RateLimitKeys {
    per_second: s("KUMA_DP_SERVER_RATE_LIMIT_PER_SECOND", "dpServer.rateLimit.perSecond"),
    burst: s("KUMA_DP_SERVER_RATE_LIMIT_BURST", "dpServer.rateLimit.burst"),
    max_concurrent: s(
        "KUMA_DP_SERVER_RATE_LIMIT_MAX_CONNECTIONS",
        "dpServer.rateLimit.maxConnections",
    ),
};

const DIAG_PORT: Setting = s("KUMA_DIAGNOSTICS_SERVER_PORT", "diagnostics.serverPort");
const DIAG_TLS_ENABLED: Setting = s("KUMA_DIAGNOSTICS_TLS_ENABLED", "diagnostics.tlsEnabled");
const DIAG_CERT: Setting = s("KUMA_DIAGNOSTICS_TLS_CERT_FILE", "diagnostics.tlsCertFile");
const DIAG_KEY: Setting = s("KUMA_DIAGNOSTICS_TLS_KEY_FILE", "diagnostics.tlsKeyFile");
const DIAG_TLS: TlsKeys = TlsKeys {
    min: s("KUMA_DIAGNOSTICS_TLS_MIN_VERSION", "diagnostics.tlsMinVersion"),
    max: s("KUMA_DIAGNOSTICS_TLS_MAX_VERSION", "diagnostics.tlsMaxVersion"),
    ciphers: s("KUMA_DIAGNOSTICS_TLS_CIPHER_SUITES", "diagnostics.tlsCipherSuites"),
};

const MADS_ENABLED: Setting =
    s("KUMA_MONITORING_ASSIGNMENT_SERVER_ENABLED", "monitoringAssignmentServer.enabled");
const MADS_PORT: Setting =
    s("KUMA_MONITORING_ASSIGNMENT_SERVER_PORT", "monitoringAssignmentServer.port");
const MADS_API_VERSIONS: Setting =
    s("KUMA_MONITORING_ASSIGNMENT_SERVER_API_VERSIONS", "monitoringAssignmentServer.apiVersions");
const MADS_FETCH_TIMEOUT: Setting = s(
    "KUMA_MONITORING_ASSIGNMENT_SERVER_DEFAULT_FETCH_TIMEOUT",
    "monitoringAssignmentServer.defaultFetchTimeout",
);
const MADS_TLS_ENABLED: Setting =
    s("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED", "monitoringAssignmentServer.tlsEnabled");
const MADS_CERT: Setting =
    s("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_CERT_FILE", "monitoringAssignmentServer.tlsCertFile");
const MADS_KEY: Setting =
    s("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_KEY_FILE", "monitoringAssignmentServer.tlsKeyFile");
const MADS_TLS: TlsKeys = TlsKeys {
    min: s(
        "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_MIN_VERSION",
        "monitoringAssignmentServer.tlsMinVersion",
    ),
    max: s(
        "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_MAX_VERSION",
        "monitoringAssignmentServer.tlsMaxVersion",
    ),
    ciphers: s(
        "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_CIPHER_SUITES",
        "monitoringAssignmentServer.tlsCipherSuites",
    ),
};

const DEFAULT_DP_PORT: u16 = 5678;
const DEFAULT_DP_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_XDS_STATUS_FLUSH: Duration = Duration::from_secs(10);
/// A proxy sends a Hello with its Dataplane and CSRs: the API's 1 MiB body limit fits them all.
const DEFAULT_DP_MAX_MSG: u32 = 1024 * 1024;
/// Connections per source address. Proxies behind one address (a NAT, a node) reconnect
/// together after a restart: a thousand get in at once, the rest at 100 a second through
/// kuma-dp's backoff; 5,000 may stay connected from one address.
const DEFAULT_DP_RATE_LIMIT: RateLimit =
    RateLimit { per_second: 100, burst: 1000, max_concurrent: 5000 };
const DEFAULT_DIAG_PORT: u16 = 5680;
const DEFAULT_MADS_PORT: u16 = 5676;
const DEFAULT_MADS_FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The only MADS API version (Kuma 2.14 knows no other).
const MADS_API_V1: &str = "v1";

/// `dpServer.*`: bootstrap and xDS for data plane proxies, always over TLS.
#[derive(Debug, Clone)]
pub struct DpServer {
    /// `KUMA_DP_SERVER_PORT` (5678).
    pub port: u16,
    /// `KUMA_DP_SERVER_TLS_CERT_FILE` / `_KEY_FILE`; `None`: the general certificate.
    pub tls_files: Option<CertKeyFiles>,
    /// Versions and ciphers, merged with the general ones.
    pub tls: TlsSettings,
    /// `KUMA_DP_SERVER_READ_HEADER_TIMEOUT` (5s).
    pub read_header_timeout: Duration,
    /// `KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE` (`dpToken`).
    pub dp_proxy_authn: DpProxyAuthn,
    /// `KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE` (`zoneToken`).
    pub zone_proxy_authn: ZoneProxyAuthn,
    /// `dpServer.authn.dpProxy.dpToken.*`: dataplane tokens.
    pub dp_token: DpTokens,
    /// `dpServer.authn.zoneProxy.zoneToken.*`: zone tokens.
    pub zone_token: ZoneTokens,
    /// `KUMA_DP_SERVER_MAX_MSG_SIZE` (1 MiB, our extension): largest gRPC message either way.
    pub max_msg_size: u32,
    /// `KUMA_DP_SERVER_RATE_LIMIT_*` (100/s, burst 1,000, 5,000 open; our extension): new
    /// connections per source address, checked before TLS.
    pub rate_limit: RateLimit,
    /// `KUMA_XDS_DATAPLANE_STATUS_FLUSH_INTERVAL` (10s, Kuma's): how often an ADS stream's
    /// counters are written to its DataplaneInsight (a rejection is written at once).
    pub xds_status_flush_interval: Duration,
}

/// How data plane proxies authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpProxyAuthn {
    /// `dpToken`: a dataplane token (JWT).
    DpToken,
    /// `none`: anyone may connect.
    None,
}

/// How zone proxies (ingress, egress) authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneProxyAuthn {
    /// `zoneToken`: a zone token (JWT).
    ZoneToken,
    /// `none`: anyone may connect.
    None,
}

/// `diagnostics.*`: health, readiness and metrics endpoints.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    /// `KUMA_DIAGNOSTICS_SERVER_PORT` (5680).
    pub server_port: u16,
    /// `KUMA_DIAGNOSTICS_TLS_ENABLED` (false).
    pub tls_enabled: bool,
    /// `KUMA_DIAGNOSTICS_TLS_CERT_FILE` / `_KEY_FILE`; `None`: the general certificate.
    pub tls_files: Option<CertKeyFiles>,
    /// Versions and ciphers, merged with the general ones.
    pub tls: TlsSettings,
}

/// `monitoringAssignmentServer.*` (MADS, zone CPs only).
#[derive(Debug, Clone)]
pub struct Mads {
    /// `KUMA_MONITORING_ASSIGNMENT_SERVER_ENABLED` (true).
    pub enabled: bool,
    /// `KUMA_MONITORING_ASSIGNMENT_SERVER_PORT` (5676).
    pub port: u16,
    /// `KUMA_MONITORING_ASSIGNMENT_SERVER_API_VERSIONS` (`v1`, the only one there is).
    pub api_versions: Vec<String>,
    /// `KUMA_MONITORING_ASSIGNMENT_SERVER_DEFAULT_FETCH_TIMEOUT` (30s): how long a fetch whose
    /// version is current is held before `304 Not Modified`.
    pub default_fetch_timeout: Duration,
    /// `KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED` (false).
    pub tls_enabled: bool,
    /// `..._TLS_CERT_FILE` / `_KEY_FILE`; `None`: the general certificate.
    pub tls_files: Option<CertKeyFiles>,
    /// Versions and ciphers, merged with the general ones.
    pub tls: TlsSettings,
}

impl DpProxyAuthn {
    fn parse(value: &str) -> Result<Self, Problem> {
        match value {
            "dpToken" => Ok(Self::DpToken),
            "none" => Ok(Self::None),
            other => Err(Problem::OneOf { value: other.to_owned(), allowed: "dpToken, none" }),
        }
    }

    /// Kuma's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DpToken => "dpToken",
            Self::None => "none",
        }
    }
}

impl ZoneProxyAuthn {
    fn parse(value: &str) -> Result<Self, Problem> {
        match value {
            "zoneToken" => Ok(Self::ZoneToken),
            "none" => Ok(Self::None),
            other => Err(Problem::OneOf { value: other.to_owned(), allowed: "zoneToken, none" }),
        }
    }

    /// Kuma's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ZoneToken => "zoneToken",
            Self::None => "none",
        }
    }
}

fn mads_api_version(value: &str) -> Result<String, Problem> {
    match value {
        MADS_API_V1 => Ok(value.to_owned()),
        other => Err(Problem::MadsApiVersion(other.to_owned())),
    }
}

/// `tlsCertFile`, `tlsKeyFile` and the TLS settings, merged into one JSON object.
fn tls_json(files: Option<&CertKeyFiles>, tls: &TlsSettings, mut out: Value) -> Value {
    let (cert, key) = CertKeyFiles::json_pair(files);
    super::merge(&mut out, json!({ "tlsCertFile": cert, "tlsKeyFile": key }));
    super::merge(&mut out, tls.to_json());
    out
}

impl DpServer {
    pub(super) fn load(loader: &Loader<'_>, general: &TlsSettings) -> Result<Self, Error> {
        Ok(Self {
            port: loader.or(&DP_PORT, DEFAULT_DP_PORT, parse::port)?,
            tls_files: CertKeyFiles::load(loader, &DP_CERT, &DP_KEY)?,
            tls: TlsSettings::load(loader, &DP_TLS, general)?,
            read_header_timeout: loader.or(
                &DP_READ_HEADER_TIMEOUT,
                DEFAULT_DP_READ_HEADER_TIMEOUT,
                parse::duration,
            )?,
            dp_proxy_authn: loader.or(
                &DP_PROXY_AUTHN,
                DpProxyAuthn::DpToken,
                DpProxyAuthn::parse,
            )?,
            zone_proxy_authn: loader.or(
                &ZONE_PROXY_AUTHN,
                ZoneProxyAuthn::ZoneToken,
                ZoneProxyAuthn::parse,
            )?,
            dp_token: DpTokens::load(loader)?,
            zone_token: ZoneTokens::load(loader)?,
            max_msg_size: loader.or(&DP_MAX_MSG, DEFAULT_DP_MAX_MSG, parse::number)?,
            rate_limit: RateLimit::load(loader, &DP_RATE_LIMIT, DEFAULT_DP_RATE_LIMIT)?,
            xds_status_flush_interval: loader.or(
                &XDS_STATUS_FLUSH,
                DEFAULT_XDS_STATUS_FLUSH,
                parse::duration,
            )?,
        })
    }

    pub(super) fn to_json(&self) -> Value {
        let base = json!({
            "port": self.port,
            "readHeaderTimeout": format_duration(self.read_header_timeout),
            "authn": {
                "dpProxy": {
                    "type": self.dp_proxy_authn.as_str(),
                    "dpToken": self.dp_token.to_json(),
                },
                "zoneProxy": {
                    "type": self.zone_proxy_authn.as_str(),
                    "zoneToken": self.zone_token.to_json(),
                },
            },
            "maxMsgSize": self.max_msg_size,
            "rateLimit": self.rate_limit.to_json("maxConnections"),
        });
        tls_json(self.tls_files.as_ref(), &self.tls, base)
    }
}

impl Diagnostics {
    pub(super) fn load(loader: &Loader<'_>, general: &TlsSettings) -> Result<Self, Error> {
        Ok(Self {
            server_port: loader.or(&DIAG_PORT, DEFAULT_DIAG_PORT, parse::port)?,
            tls_enabled: loader.or(&DIAG_TLS_ENABLED, false, parse::boolean)?,
            tls_files: CertKeyFiles::load(loader, &DIAG_CERT, &DIAG_KEY)?,
            tls: TlsSettings::load(loader, &DIAG_TLS, general)?,
        })
    }

    pub(super) fn to_json(&self) -> Value {
        let base = json!({ "serverPort": self.server_port, "tlsEnabled": self.tls_enabled });
        tls_json(self.tls_files.as_ref(), &self.tls, base)
    }
}

impl Mads {
    pub(super) fn load(loader: &Loader<'_>, general: &TlsSettings) -> Result<Self, Error> {
        Ok(Self {
            enabled: loader.or(&MADS_ENABLED, true, parse::boolean)?,
            port: loader.or(&MADS_PORT, DEFAULT_MADS_PORT, parse::port)?,
            api_versions: match loader.list(&MADS_API_VERSIONS, mads_api_version)? {
                None => vec![MADS_API_V1.to_owned()],
                Some(versions) if versions.is_empty() => {
                    let at = loader.origin(&MADS_API_VERSIONS);
                    return Err(Error::Invalid { at, problem: Problem::MadsApiVersionsEmpty });
                }
                Some(versions) => versions,
            },
            default_fetch_timeout: loader.or(
                &MADS_FETCH_TIMEOUT,
                DEFAULT_MADS_FETCH_TIMEOUT,
                parse::duration,
            )?,
            tls_enabled: loader.or(&MADS_TLS_ENABLED, false, parse::boolean)?,
            tls_files: CertKeyFiles::load(loader, &MADS_CERT, &MADS_KEY)?,
            tls: TlsSettings::load(loader, &MADS_TLS, general)?,
        })
    }

    pub(super) fn to_json(&self) -> Value {
        let base = json!({
            "enabled": self.enabled,
            "port": self.port,
            "apiVersions": self.api_versions,
            "defaultFetchTimeout": format_duration(self.default_fetch_timeout),
            "tlsEnabled": self.tls_enabled,
        });
        tls_json(self.tls_files.as_ref(), &self.tls, base)
    }
}
