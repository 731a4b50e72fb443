//! `multizone.zone.*`: the zone's name, the global's address and the zone's KDS client settings,
//! including how it authenticates to the global (a CP token, a client certificate).
//!
//! Kuma's zone rules live here ([`ZoneName`], the global address scheme, the root CA file that
//! must be readable). Files are only checked to open: the token file is re-read by the KDS client
//! on every connect and PEM is parsed by `kuma_core::tls`, so neither is read here.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};

use super::super::error::{Error, Problem, ZoneNameProblem};
use super::super::parse::{self, format_duration};
use super::super::source::{Loader, Setting};
use super::super::tls::CertKeyFiles;
use super::{DEFAULT_MAX_MSG, DEFAULT_REFRESH, REDACTED, m};

const ZONE_NAME: Setting = m("KUMA_MULTIZONE_ZONE_NAME", "multizone.zone.name");
const GLOBAL_ADDRESS: Setting =
    m("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", "multizone.zone.globalAddress");
const ZONE_REFRESH: Setting =
    m("KUMA_MULTIZONE_ZONE_KDS_REFRESH_INTERVAL", "multizone.zone.kds.refreshInterval");
const ROOT_CA_FILE: Setting =
    m("KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE", "multizone.zone.kds.rootCaFile");
const SKIP_VERIFY: Setting =
    m("KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY", "multizone.zone.kds.tlsSkipVerify");
const CERT: Setting = m("KUMA_MULTIZONE_ZONE_KDS_TLS_CERT_FILE", "multizone.zone.kds.tlsCertFile");
const KEY: Setting = m("KUMA_MULTIZONE_ZONE_KDS_TLS_KEY_FILE", "multizone.zone.kds.tlsKeyFile");
const CP_TOKEN_PATH: Setting =
    m("KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH", "multizone.zone.kds.auth.cpTokenPath");
const CP_TOKEN_INLINE: Setting =
    m("KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_INLINE", "multizone.zone.kds.auth.cpTokenInline");
const ZONE_MAX_MSG: Setting =
    m("KUMA_MULTIZONE_ZONE_KDS_MAX_MSG_SIZE", "multizone.zone.kds.maxMsgSize");

const DEFAULT_ZONE_NAME: &str = "default";

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
    /// uses the system roots. Checked readable; cannot be combined with skip-verify.
    pub root_ca_file: Option<PathBuf>,
    /// `KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY` (false): do not verify the global at all.
    pub tls_skip_verify: bool,
    /// `KUMA_MULTIZONE_ZONE_KDS_TLS_CERT_FILE` / `_TLS_KEY_FILE` (our extension, unset): the
    /// client certificate the zone presents to the global; both or neither, checked readable.
    pub client_tls: Option<CertKeyFiles>,
    /// `KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH` or `..._CP_TOKEN_INLINE` (our extension, in
    /// Kong Mesh's shape; unset): the zone token with scope `cp` sent to the global. At most one.
    pub cp_token: Option<CpToken>,
    /// `KUMA_MULTIZONE_ZONE_KDS_MAX_MSG_SIZE` (10 MiB).
    pub max_msg_size: u32,
}

/// Where the zone's CP token comes from.
#[derive(Clone)]
pub enum CpToken {
    /// `..._AUTH_CP_TOKEN_PATH`: a file, checked to exist at load time and re-read by the client
    /// on every connect so a rotated token is picked up.
    Path(PathBuf),
    /// `..._AUTH_CP_TOKEN_INLINE`: the token itself; shown as `*****` in dumps and `Debug`, so a
    /// dump fed back as a file needs the token set again (as the store password does).
    Inline(SecretString),
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

impl Zone {
    pub(super) fn load(loader: &Loader<'_>) -> Result<Self, Error> {
        let name = loader.or(&ZONE_NAME, DEFAULT_ZONE_NAME.to_owned(), parse::text)?;
        let name = ZoneName::parse(&name).map_err(|problem| Error::Invalid {
            at: loader.origin(&ZONE_NAME),
            problem: Problem::ZoneName(problem),
        })?;
        let global_address = loader.value(&GLOBAL_ADDRESS, GlobalAddress::parse)?;
        let refresh_interval = loader.or(&ZONE_REFRESH, DEFAULT_REFRESH, parse::duration)?;
        let root_ca_file = loader.file(&ROOT_CA_FILE, "certificate")?;
        let tls_skip_verify = loader.or(&SKIP_VERIFY, false, parse::boolean)?;
        // A `grpcs://` address with neither is fine: the system roots verify the global.
        if tls_skip_verify && root_ca_file.is_some() {
            return Err(Error::Invalid {
                at: loader.origin(&SKIP_VERIFY),
                problem: Problem::SkipVerifyWithRootCa(loader.origin(&ROOT_CA_FILE)),
            });
        }
        Ok(Self {
            name,
            global_address,
            refresh_interval,
            root_ca_file,
            tls_skip_verify,
            client_tls: CertKeyFiles::load(loader, &CERT, &KEY)?,
            cp_token: CpToken::load(loader)?,
            max_msg_size: loader.or(&ZONE_MAX_MSG, DEFAULT_MAX_MSG, parse::number)?,
        })
    }

    pub(super) fn to_json(&self) -> Value {
        let (cert, key) = CertKeyFiles::json_pair(self.client_tls.as_ref());
        let (token_path, token_inline) = match &self.cp_token {
            None => (json!(""), ""),
            Some(CpToken::Path(path)) => (json!(path), ""),
            Some(CpToken::Inline(_)) => (json!(""), REDACTED),
        };
        json!({
            "name": self.name.as_str(),
            "globalAddress": self.global_address.as_ref().map_or("", GlobalAddress::url),
            "kds": {
                "refreshInterval": format_duration(self.refresh_interval),
                "rootCaFile": self.root_ca_file.clone().unwrap_or_default(),
                "tlsSkipVerify": self.tls_skip_verify,
                "tlsCertFile": cert,
                "tlsKeyFile": key,
                "auth": {
                    "cpTokenPath": token_path,
                    "cpTokenInline": token_inline,
                },
                "maxMsgSize": self.max_msg_size,
            },
        })
    }
}

impl CpToken {
    fn load(loader: &Loader<'_>) -> Result<Option<Self>, Error> {
        let path = loader.file(&CP_TOKEN_PATH, "token")?;
        // The parser never fails, so no error can echo the token.
        let inline = loader.value(&CP_TOKEN_INLINE, |v| Ok(SecretString::from(v)))?;
        match (path, inline) {
            (None, None) => Ok(None),
            (Some(path), None) => Ok(Some(Self::Path(path))),
            (None, Some(token)) => Ok(Some(Self::Inline(token))),
            (Some(_), Some(_)) => Err(Error::Invalid {
                at: loader.origin(&CP_TOKEN_INLINE),
                problem: Problem::Exclusive(loader.origin(&CP_TOKEN_PATH)),
            }),
        }
    }
}

impl fmt::Debug for CpToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Self::Inline(_) => write!(f, "Inline({REDACTED})"),
        }
    }
}

impl ZoneName {
    /// Applies Kuma's rules, with Kuma's messages.
    pub fn parse(name: &str) -> Result<Self, ZoneNameProblem> {
        kuma_core::resources::check_zone_name(name).map(|()| Self(name.to_owned()))
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

impl GlobalAddress {
    /// Accepts `grpc://` and `grpcs://` URLs, with Kuma's message otherwise.
    pub fn parse(value: &str) -> Result<Self, Problem> {
        // As Go's url.Parse: the scheme is what precedes the first ':' when it looks like one.
        let scheme = value
            .split_once(':')
            .map(|(s, _)| s)
            .filter(|s| {
                s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            })
            .unwrap_or("")
            .to_ascii_lowercase();
        let scheme = match scheme.as_str() {
            "grpc" => GlobalScheme::Grpc,
            "grpcs" => GlobalScheme::Grpcs,
            _ => return Err(Problem::GlobalAddressScheme(scheme)),
        };
        Ok(Self { url: value.to_owned(), scheme })
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
