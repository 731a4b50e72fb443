//! `apiServer.*`: the REST API listeners (HTTP 5681, HTTPS 5682), authentication, limits.
//!
//! Settings only; `shared::api` serves them. `KUMA_API_SERVER_MAX_BODY_BYTES` and
//! `KUMA_API_SERVER_AUTHN_ANONYMOUS_CAN_WRITE` are our extensions.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::error::{Error, Problem};
use super::limits::{RateLimit, RateLimitKeys};
use super::parse::{self, format_duration};
use super::source::{Loader, Setting};
use super::tls::{CertKeyFiles, TlsKeys, TlsSettings};
use super::tokens::UserTokens;

const fn api(env: &'static str, yaml: &'static str) -> Setting {
    Setting { env, yaml }
}

const HTTP_ENABLED: Setting = api("KUMA_API_SERVER_HTTP_ENABLED", "apiServer.http.enabled");
const HTTP_INTERFACE: Setting = api("KUMA_API_SERVER_HTTP_INTERFACE", "apiServer.http.interface");
const HTTP_PORT: Setting = api("KUMA_API_SERVER_HTTP_PORT", "apiServer.http.port");
const HTTPS_ENABLED: Setting = api("KUMA_API_SERVER_HTTPS_ENABLED", "apiServer.https.enabled");
const HTTPS_INTERFACE: Setting =
    api("KUMA_API_SERVER_HTTPS_INTERFACE", "apiServer.https.interface");
const HTTPS_PORT: Setting = api("KUMA_API_SERVER_HTTPS_PORT", "apiServer.https.port");
const HTTPS_CERT: Setting =
    api("KUMA_API_SERVER_HTTPS_TLS_CERT_FILE", "apiServer.https.tlsCertFile");
const HTTPS_KEY: Setting = api("KUMA_API_SERVER_HTTPS_TLS_KEY_FILE", "apiServer.https.tlsKeyFile");
const HTTPS_TLS: TlsKeys = TlsKeys {
    min: api("KUMA_API_SERVER_HTTPS_TLS_MIN_VERSION", "apiServer.https.tlsMinVersion"),
    max: api("KUMA_API_SERVER_HTTPS_TLS_MAX_VERSION", "apiServer.https.tlsMaxVersion"),
    ciphers: api("KUMA_API_SERVER_HTTPS_TLS_CIPHER_SUITES", "apiServer.https.tlsCipherSuites"),
};
const HTTPS_REQUIRE_CLIENT_CERT: Setting =
    api("KUMA_API_SERVER_HTTPS_REQUIRE_CLIENT_CERT", "apiServer.https.requireClientCert");
const HTTPS_CA_FILE: Setting =
    api("KUMA_API_SERVER_HTTPS_TLS_CA_FILE", "apiServer.https.tlsCaFile");
const AUTHN_TYPE: Setting = api("KUMA_API_SERVER_AUTHN_TYPE", "apiServer.authn.type");
const LOCALHOST_IS_ADMIN: Setting =
    api("KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN", "apiServer.authn.localhostIsAdmin");
const ANONYMOUS_CAN_WRITE: Setting =
    api("KUMA_API_SERVER_AUTHN_ANONYMOUS_CAN_WRITE", "apiServer.authn.anonymousCanWrite");
const READ_ONLY: Setting = api("KUMA_API_SERVER_READ_ONLY", "apiServer.readOnly");
const CORS: Setting = api("KUMA_API_SERVER_CORS_ALLOWED_DOMAINS", "apiServer.corsAllowedDomains");
const READ_HEADER_TIMEOUT: Setting =
    api("KUMA_API_SERVER_READ_HEADER_TIMEOUT", "apiServer.readHeaderTimeout");
const READ_TIMEOUT: Setting = api("KUMA_API_SERVER_READ_TIMEOUT", "apiServer.readTimeout");
const WRITE_TIMEOUT: Setting = api("KUMA_API_SERVER_WRITE_TIMEOUT", "apiServer.writeTimeout");
const IDLE_TIMEOUT: Setting = api("KUMA_API_SERVER_IDLE_TIMEOUT", "apiServer.idleTimeout");
const MAX_BODY_BYTES: Setting = api("KUMA_API_SERVER_MAX_BODY_BYTES", "apiServer.maxBodyBytes");
const TOKENS_RATE_LIMIT: RateLimitKeys = RateLimitKeys {
    per_second: api(
        "KUMA_API_SERVER_RATE_LIMIT_TOKENS_PER_SECOND",
        "apiServer.rateLimit.tokens.perSecond",
    ),
    burst: api("KUMA_API_SERVER_RATE_LIMIT_TOKENS_BURST", "apiServer.rateLimit.tokens.burst"),
    max_concurrent: api(
        "KUMA_API_SERVER_RATE_LIMIT_TOKENS_MAX_IN_FLIGHT",
        "apiServer.rateLimit.tokens.maxInFlight",
    ),
};

const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
const DEFAULT_HTTP_PORT: u16 = 5681;
const DEFAULT_HTTPS_PORT: u16 = 5682;
const DEFAULT_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Token requests per source address: a script issuing a hundred tokens in a row gets them at
/// once, a flood gets 20 a second (one RS256 signature each), and at most 10 wait at a time.
const DEFAULT_TOKENS_RATE_LIMIT: RateLimit =
    RateLimit { per_second: 20, burst: 100, max_concurrent: 10 };

/// `apiServer.*`.
#[derive(Debug, Clone)]
pub struct ApiServer {
    /// `KUMA_API_SERVER_HTTP_*`: plain HTTP (enabled, 0.0.0.0, 5681).
    pub http: Listener,
    /// `KUMA_API_SERVER_HTTPS_*`.
    pub https: Https,
    /// `KUMA_API_SERVER_AUTHN_*`.
    pub authn: Authn,
    /// `KUMA_API_SERVER_READ_ONLY` (false): only GET is served.
    pub read_only: bool,
    /// `KUMA_API_SERVER_CORS_ALLOWED_DOMAINS` (none): domains or regexes.
    pub cors_allowed_domains: Vec<String>,
    /// `KUMA_API_SERVER_READ_HEADER_TIMEOUT` (1s).
    pub read_header_timeout: Duration,
    /// `KUMA_API_SERVER_READ_TIMEOUT` (10s).
    pub read_timeout: Duration,
    /// `KUMA_API_SERVER_WRITE_TIMEOUT` (30s).
    pub write_timeout: Duration,
    /// `KUMA_API_SERVER_IDLE_TIMEOUT` (2m).
    pub idle_timeout: Duration,
    /// `KUMA_API_SERVER_MAX_BODY_BYTES` (1 MiB, our extension): larger request bodies get 413.
    pub max_body_bytes: usize,
    /// `KUMA_API_SERVER_RATE_LIMIT_TOKENS_*` (20/s, burst 100, 10 in flight; our extension):
    /// `POST /tokens/*` per source address; over it, 429.
    pub tokens_rate_limit: RateLimit,
}

/// Where one listener binds, and whether it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Whether the listener runs.
    pub enabled: bool,
    /// Address to bind.
    pub interface: IpAddr,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
}

/// `apiServer.https.*` (enabled, 0.0.0.0, 5682).
#[derive(Debug, Clone)]
pub struct Https {
    /// Where it binds.
    pub listener: Listener,
    /// `KUMA_API_SERVER_HTTPS_TLS_CERT_FILE` / `_KEY_FILE`; `None`: the general certificate.
    pub tls_files: Option<CertKeyFiles>,
    /// Versions and ciphers, merged with the general ones.
    pub tls: TlsSettings,
    /// `KUMA_API_SERVER_HTTPS_REQUIRE_CLIENT_CERT` (false): reject clients without a verified
    /// certificate.
    pub require_client_cert: bool,
    /// `KUMA_API_SERVER_HTTPS_TLS_CA_FILE`: CA bundle that client certificates must chain to.
    pub tls_ca_file: Option<PathBuf>,
}

/// `apiServer.authn.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authn {
    /// `KUMA_API_SERVER_AUTHN_TYPE` (`tokens`).
    pub kind: AuthnType,
    /// `KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN` (true).
    pub localhost_is_admin: bool,
    /// `apiServer.authn.tokens.*`: user tokens.
    pub tokens: UserTokens,
    /// `KUMA_API_SERVER_AUTHN_ANONYMOUS_CAN_WRITE` (false, our extension): Kuma lets anonymous
    /// users change non-secret resources; we refuse unless this is set.
    pub anonymous_can_write: bool,
}

/// How API clients authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthnType {
    /// `tokens`: user tokens (JWT).
    Tokens,
    /// `adminClientCerts` (deprecated in Kuma): any verified client certificate is admin.
    AdminClientCerts,
}

impl AuthnType {
    fn parse(value: &str) -> Result<Self, Problem> {
        match value {
            "tokens" => Ok(Self::Tokens),
            "adminClientCerts" => Ok(Self::AdminClientCerts),
            other => {
                Err(Problem::OneOf { value: other.to_owned(), allowed: "tokens, adminClientCerts" })
            }
        }
    }

    /// Kuma's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tokens => "tokens",
            Self::AdminClientCerts => "adminClientCerts",
        }
    }
}

impl Listener {
    fn load(loader: &Loader<'_>, keys: [&Setting; 3], default_port: u16) -> Result<Self, Error> {
        let [enabled, interface, port] = keys;
        Ok(Self {
            enabled: loader.or(enabled, true, parse::boolean)?,
            interface: loader.or(interface, ANY, parse::ip)?,
            port: loader.or(port, default_port, parse::port)?,
        })
    }

    fn to_json(&self) -> Value {
        json!({ "enabled": self.enabled, "interface": self.interface, "port": self.port })
    }
}

impl ApiServer {
    pub(super) fn load(loader: &Loader<'_>, general: &TlsSettings) -> Result<Self, Error> {
        let http = Listener::load(
            loader,
            [&HTTP_ENABLED, &HTTP_INTERFACE, &HTTP_PORT],
            DEFAULT_HTTP_PORT,
        )?;
        let https = Https {
            listener: Listener::load(
                loader,
                [&HTTPS_ENABLED, &HTTPS_INTERFACE, &HTTPS_PORT],
                DEFAULT_HTTPS_PORT,
            )?,
            tls_files: CertKeyFiles::load(loader, &HTTPS_CERT, &HTTPS_KEY)?,
            tls: TlsSettings::load(loader, &HTTPS_TLS, general)?,
            require_client_cert: loader.or(&HTTPS_REQUIRE_CLIENT_CERT, false, parse::boolean)?,
            tls_ca_file: loader.file(&HTTPS_CA_FILE, "client CA certificate")?,
        };
        let authn = Authn {
            kind: loader.or(&AUTHN_TYPE, AuthnType::Tokens, AuthnType::parse)?,
            localhost_is_admin: loader.or(&LOCALHOST_IS_ADMIN, true, parse::boolean)?,
            tokens: UserTokens::load(loader)?,
            anonymous_can_write: loader.or(&ANONYMOUS_CAN_WRITE, false, parse::boolean)?,
        };
        Ok(Self {
            http,
            https,
            authn,
            read_only: loader.or(&READ_ONLY, false, parse::boolean)?,
            cors_allowed_domains: loader.list(&CORS, parse::text)?.unwrap_or_default(),
            read_header_timeout: loader.or(
                &READ_HEADER_TIMEOUT,
                DEFAULT_READ_HEADER_TIMEOUT,
                parse::duration,
            )?,
            read_timeout: loader.or(&READ_TIMEOUT, DEFAULT_READ_TIMEOUT, parse::duration)?,
            write_timeout: loader.or(&WRITE_TIMEOUT, DEFAULT_WRITE_TIMEOUT, parse::duration)?,
            idle_timeout: loader.or(&IDLE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, parse::duration)?,
            max_body_bytes: loader.or(&MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, parse::number)?,
            tokens_rate_limit: RateLimit::load(
                loader,
                &TOKENS_RATE_LIMIT,
                DEFAULT_TOKENS_RATE_LIMIT,
            )?,
        })
    }

    pub(super) fn to_json(&self) -> Value {
        let (cert, key) = CertKeyFiles::json_pair(self.https.tls_files.as_ref());
        let mut https = self.https.listener.to_json();
        super::merge(&mut https, self.https.tls.to_json());
        super::merge(
            &mut https,
            json!({
                "tlsCertFile": cert,
                "tlsKeyFile": key,
                "tlsCaFile": self.https.tls_ca_file.clone().unwrap_or_default(),
                "requireClientCert": self.https.require_client_cert,
            }),
        );
        json!({
            "http": self.http.to_json(),
            "https": https,
            "authn": {
                "type": self.authn.kind.as_str(),
                "localhostIsAdmin": self.authn.localhost_is_admin,
                "anonymousCanWrite": self.authn.anonymous_can_write,
                "tokens": self.authn.tokens.to_json(),
            },
            "readOnly": self.read_only,
            "corsAllowedDomains": self.cors_allowed_domains,
            "readHeaderTimeout": format_duration(self.read_header_timeout),
            "readTimeout": format_duration(self.read_timeout),
            "writeTimeout": format_duration(self.write_timeout),
            "idleTimeout": format_duration(self.idle_timeout),
            "maxBodyBytes": self.max_body_bytes,
            "rateLimit": { "tokens": self.tokens_rate_limit.to_json("maxInFlight") },
        })
    }
}
