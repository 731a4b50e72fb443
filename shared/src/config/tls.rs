//! TLS settings shared by every server section: versions, cipher suites, certificate files.
//!
//! Names only: it checks spellings and that files exist, and never opens PEM or names rustls
//! (that is `kuma_core::tls`'s job).
//!
//! Precedence differs from Kuma on purpose: Kuma copies `KUMA_GENERAL_TLS_MIN_VERSION` (default
//! `TLSv1_2`) over every server's min version, so a per-server min version alone has no effect.
//! Here a per-server value, when set, wins; the general value only fills in what a server
//! leaves unset.

use std::fmt;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::error::{Error, Problem};
use super::source::{Loader, Setting};

/// The accepted cipher suites, as Go (and IANA) spell them: the AEAD suites rustls offers.
pub(super) const SUPPORTED_CIPHERS: &str = "TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 \
     TLS_CHACHA20_POLY1305_SHA256 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 \
     TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 \
     TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 \
     TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256";

/// A TLS protocol version, spelled `TLSv1_2` / `TLSv1_3` as in Kuma.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// Versions and cipher suites one server accepts (already merged with the general settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Lowest version offered; Kuma's default is `TLSv1_2`.
    pub min_version: TlsVersion,
    /// Highest version offered; `None` means the newest supported.
    pub max_version: Option<TlsVersion>,
    /// IANA names (Go's `_CHACHA20_POLY1305` alias normalised to `..._SHA256`); empty means the
    /// library default.
    pub cipher_suites: Vec<String>,
}

/// A certificate (chain) file and its private key file, both checked to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertKeyFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The four settings of one server's TLS versions and ciphers.
pub(super) struct TlsKeys {
    pub min: Setting,
    pub max: Setting,
    pub ciphers: Setting,
}

impl TlsVersion {
    /// Parses Kuma's spelling.
    pub fn parse(value: &str) -> Result<Self, Problem> {
        match value {
            "TLSv1_2" => Ok(Self::Tls12),
            "TLSv1_3" => Ok(Self::Tls13),
            other => Err(Problem::TlsVersion(other.to_owned())),
        }
    }

    /// Kuma's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls12 => "TLSv1_2",
            Self::Tls13 => "TLSv1_3",
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self { min_version: TlsVersion::Tls12, max_version: None, cipher_suites: Vec::new() }
    }
}

impl TlsSettings {
    /// Reads one server's settings; what the server leaves unset comes from `general`.
    pub(super) fn load(loader: &Loader<'_>, keys: &TlsKeys, general: &Self) -> Result<Self, Error> {
        let min_version = loader.or(&keys.min, general.min_version, TlsVersion::parse)?;
        let max_version = loader.value(&keys.max, TlsVersion::parse)?.or(general.max_version);
        let cipher_suites = loader
            .list(&keys.ciphers, cipher)?
            .filter(|list| !list.is_empty())
            .unwrap_or_else(|| general.cipher_suites.clone());
        if let Some(max) = max_version.filter(|max| *max < min_version) {
            let problem = Problem::TlsVersionOrder { min: min_version.as_str(), max: max.as_str() };
            return Err(Error::Invalid { at: loader.origin(&keys.max), problem });
        }
        Ok(Self { min_version, max_version, cipher_suites })
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "tlsMinVersion": self.min_version.as_str(),
            "tlsMaxVersion": self.max_version.map_or("", TlsVersion::as_str),
            "tlsCipherSuites": self.cipher_suites,
        })
    }
}

impl CertKeyFiles {
    /// Reads a cert/key pair: both or neither (Kuma's messages), and both files must open.
    pub(super) fn load(
        loader: &Loader<'_>,
        cert: &Setting,
        key: &Setting,
    ) -> Result<Option<Self>, Error> {
        let cert_path = loader.file(cert, "certificate")?;
        let key_path = loader.file(key, "key")?;
        match (cert_path, key_path) {
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            (None, None) => Ok(None),
            (None, Some(_)) => {
                Err(Error::Invalid { at: loader.origin(cert), problem: Problem::CertMissing })
            }
            (Some(_), None) => {
                Err(Error::Invalid { at: loader.origin(key), problem: Problem::KeyMissing })
            }
        }
    }

    /// `(tlsCertFile, tlsKeyFile)` as shown in the effective config; empty when unset.
    pub(super) fn json_pair(files: Option<&Self>) -> (Value, Value) {
        match files {
            Some(f) => (json!(f.cert), json!(f.key)),
            None => (json!(""), json!("")),
        }
    }
}

/// Checks a cipher suite name and returns its canonical IANA spelling.
fn cipher(value: &str) -> Result<String, Problem> {
    let canonical = match value {
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        other => other,
    };
    if SUPPORTED_CIPHERS.split_whitespace().any(|c| c == canonical) {
        Ok(canonical.to_owned())
    } else {
        Err(Problem::Cipher(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_cipher_and_go_alias_is_accepted() {
        for name in SUPPORTED_CIPHERS.split_whitespace() {
            assert_eq!(cipher(name).as_deref(), Ok(name));
        }
        assert_eq!(
            cipher("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305").as_deref(),
            Ok("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")
        );
    }

    #[test]
    fn non_aead_cipher_is_rejected() {
        let name = "TLS_RSA_WITH_AES_128_CBC_SHA";
        assert_eq!(cipher(name), Err(Problem::Cipher(name.into())));
    }

    #[test]
    fn versions_use_kuma_spelling() {
        assert_eq!(TlsVersion::parse("TLSv1_3"), Ok(TlsVersion::Tls13));
        assert_eq!(TlsVersion::Tls12.to_string(), "TLSv1_2");
        let err = TlsVersion::parse("TLSv1_1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported tls version: TLSv1_1 supported versions:[TLSv1_2 TLSv1_3]"
        );
    }
}
