//! `general.*`: the work directory, the control plane's own certificate, TLS defaults, backoffs.
//!
//! It does not create the work directory or generate a certificate; the binaries do, from these
//! settings.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::error::{Error, Origin, Problem};
use super::parse::{self, format_duration};
use super::source::{Loader, Setting};
use super::tls::{CertKeyFiles, TlsKeys, TlsSettings};

const WORK_DIR: Setting = Setting { env: "KUMA_GENERAL_WORK_DIR", yaml: "general.workDir" };
const TLS_CERT_FILE: Setting =
    Setting { env: "KUMA_GENERAL_TLS_CERT_FILE", yaml: "general.tlsCertFile" };
const TLS_KEY_FILE: Setting =
    Setting { env: "KUMA_GENERAL_TLS_KEY_FILE", yaml: "general.tlsKeyFile" };
const TLS: TlsKeys = TlsKeys {
    min: Setting { env: "KUMA_GENERAL_TLS_MIN_VERSION", yaml: "general.tlsMinVersion" },
    max: Setting { env: "KUMA_GENERAL_TLS_MAX_VERSION", yaml: "general.tlsMaxVersion" },
    ciphers: Setting { env: "KUMA_GENERAL_TLS_CIPHER_SUITES", yaml: "general.tlsCipherSuites" },
};
const DNS_CACHE_TTL: Setting =
    Setting { env: "KUMA_GENERAL_DNS_CACHE_TTL", yaml: "general.dnsCacheTTL" };
const BASE_BACKOFF: Setting = Setting {
    env: "KUMA_GENERAL_RESILIENT_COMPONENT_BASE_BACKOFF",
    yaml: "general.resilientComponentBaseBackoff",
};
const MAX_BACKOFF: Setting = Setting {
    env: "KUMA_GENERAL_RESILIENT_COMPONENT_MAX_BACKOFF",
    yaml: "general.resilientComponentMaxBackoff",
};
const AUDIT_LOG_FILE: Setting =
    Setting { env: "KUMA_GENERAL_AUDIT_LOG_FILE", yaml: "general.auditLogFile" };

/// The audit log's file name in the work directory, when `KUMA_GENERAL_AUDIT_LOG_FILE` is unset.
const AUDIT_LOG_NAME: &str = "audit.log";
const DEFAULT_DNS_CACHE_TTL: Duration = Duration::from_secs(10);
const DEFAULT_BASE_BACKOFF: Duration = Duration::from_secs(5);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);

/// `general.*`.
#[derive(Debug, Clone)]
pub struct General {
    /// `KUMA_GENERAL_WORK_DIR`, else `$HOME/.kuma`. Not created here.
    pub work_dir: PathBuf,
    /// `KUMA_GENERAL_TLS_CERT_FILE` / `_KEY_FILE`. `None`: `<work_dir>/kuma-cp.crt` and
    /// `kuma-cp.key` are used, or generated.
    pub tls_files: Option<CertKeyFiles>,
    /// `KUMA_GENERAL_TLS_MIN_VERSION` / `_MAX_VERSION` / `_CIPHER_SUITES`: what each server
    /// uses where it sets nothing itself.
    pub tls: TlsSettings,
    /// `KUMA_GENERAL_DNS_CACHE_TTL` (10s).
    pub dns_cache_ttl: Duration,
    /// `KUMA_GENERAL_RESILIENT_COMPONENT_BASE_BACKOFF` (5s): first restart delay of a failed
    /// component such as the KDS client.
    pub resilient_component_base_backoff: Duration,
    /// `KUMA_GENERAL_RESILIENT_COMPONENT_MAX_BACKOFF` (1m).
    pub resilient_component_max_backoff: Duration,
    /// `KUMA_GENERAL_AUDIT_LOG_FILE` (our extension), else `<work_dir>/audit.log`. Neither
    /// created nor checked here.
    pub audit_log_file: PathBuf,
}

impl General {
    pub(super) fn load(loader: &Loader<'_>, home: Option<String>) -> Result<Self, Error> {
        let work_dir = match loader.value(&WORK_DIR, parse::path)? {
            Some(dir) => dir,
            None => match home.filter(|h| !h.is_empty()) {
                Some(home) => PathBuf::from(home).join(".kuma"),
                None => {
                    return Err(Error::Invalid {
                        at: Origin::Env(WORK_DIR.env),
                        problem: Problem::NoWorkDir,
                    });
                }
            },
        };
        let audit_log_file = loader
            .value(&AUDIT_LOG_FILE, parse::path)?
            .unwrap_or_else(|| work_dir.join(AUDIT_LOG_NAME));
        Ok(Self {
            audit_log_file,
            work_dir,
            tls_files: CertKeyFiles::load(loader, &TLS_CERT_FILE, &TLS_KEY_FILE)?,
            tls: TlsSettings::load(loader, &TLS, &TlsSettings::default())?,
            dns_cache_ttl: loader.or(&DNS_CACHE_TTL, DEFAULT_DNS_CACHE_TTL, parse::duration)?,
            resilient_component_base_backoff: loader.or(
                &BASE_BACKOFF,
                DEFAULT_BASE_BACKOFF,
                parse::duration,
            )?,
            resilient_component_max_backoff: loader.or(
                &MAX_BACKOFF,
                DEFAULT_MAX_BACKOFF,
                parse::duration,
            )?,
        })
    }

    pub(super) fn to_json(&self) -> Value {
        let (cert, key) = CertKeyFiles::json_pair(self.tls_files.as_ref());
        let mut out = json!({
            "workDir": self.work_dir,
            "auditLogFile": self.audit_log_file,
            "tlsCertFile": cert,
            "tlsKeyFile": key,
            "dnsCacheTTL": format_duration(self.dns_cache_ttl),
            "resilientComponentBaseBackoff": format_duration(self.resilient_component_base_backoff),
            "resilientComponentMaxBackoff": format_duration(self.resilient_component_max_backoff),
        });
        super::merge(&mut out, self.tls.to_json());
        out
    }
}
