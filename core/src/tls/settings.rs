//! Server TLS settings (versions, cipher suites) and their mapping onto rustls.
//!
//! Cipher suites are named as Go (and so Kuma) names them. This file only translates; it must not
//! read configuration sources.

use std::fmt;

use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{cipher_suite as suites, default_provider};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use super::Error;

/// A TLS protocol version a server may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// How a TLS server should negotiate: versions and cipher suites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsOptions {
    /// The lowest version accepted.
    pub min_version: Version,
    /// The highest version accepted; `None` is the highest rustls supports.
    pub max_version: Option<Version>,
    /// Go's IANA names of the allowed suites; empty allows rustls' defaults.
    pub cipher_suites: Vec<String>,
}

impl Default for ServerTlsOptions {
    /// Kuma's defaults: TLS 1.2 and up, default suites.
    fn default() -> Self {
        Self { min_version: Version::Tls12, max_version: None, cipher_suites: Vec::new() }
    }
}

impl ServerTlsOptions {
    /// The protocol versions to enable, lowest first.
    pub(crate) fn versions(&self) -> Result<Vec<&'static SupportedProtocolVersion>, Error> {
        let max = self.max_version.unwrap_or(Version::Tls13);
        if self.min_version > max {
            return Err(Error::VersionRange { min: self.min_version, max });
        }
        Ok([Version::Tls12, Version::Tls13]
            .into_iter()
            .filter(|v| (self.min_version..=max).contains(v))
            .map(Version::rustls)
            .collect())
    }

    /// The aws-lc-rs provider restricted to the configured suites.
    ///
    /// Go cannot configure TLS 1.3 suites, so Kuma's lists usually name only TLS 1.2 ones. To
    /// keep such a list from disabling TLS 1.3, the TLS 1.3 suites are filtered only when the list
    /// names at least one of them.
    pub(crate) fn provider(&self) -> Result<CryptoProvider, Error> {
        let mut provider = default_provider();
        if self.cipher_suites.is_empty() {
            return Ok(provider);
        }
        let wanted = self
            .cipher_suites
            .iter()
            .map(|name| cipher_suite(name))
            .collect::<Result<Vec<_>, _>>()?;
        let names_tls13 = wanted.iter().any(|s| s.tls13().is_some());
        provider.cipher_suites.retain(|suite| {
            wanted.iter().any(|w| w.suite() == suite.suite())
                || (suite.tls13().is_some() && !names_tls13)
        });
        Ok(provider)
    }
}

impl Version {
    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            Self::Tls12 => &rustls::version::TLS12,
            Self::Tls13 => &rustls::version::TLS13,
        }
    }
}

impl fmt::Display for Version {
    /// Kuma's spelling: `TLSv1_2`, `TLSv1_3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tls12 => "TLSv1_2",
            Self::Tls13 => "TLSv1_3",
        })
    }
}

/// Maps Go's name of a cipher suite onto the aws-lc-rs suite.
///
/// Go's CBC and RSA key exchange suites have no rustls counterpart and are refused by name.
pub fn cipher_suite(name: &str) -> Result<SupportedCipherSuite, Error> {
    let suite = match name {
        "TLS_AES_128_GCM_SHA256" => suites::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384" => suites::TLS13_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256" => suites::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
            suites::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        }
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
            suites::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => suites::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => suites::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        // Go accepts both the IANA name and its older alias without `_SHA256`.
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            suites::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            suites::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return Err(Error::UnsupportedCipherSuite(name.to_owned())),
    };
    Ok(suite)
}

#[cfg(test)]
mod tests;
