//! TLS for every listener and client: the control plane certificate and rustls configurations.
//!
//! This is the only module that names rustls or parses PEM. It loads and writes certificate files,
//! mints the self-signed certificates kuma-cp and `kumactl generate tls-certificate` need, and
//! turns settings into rustls configurations that always use the aws-lc-rs provider. It must not
//! know which listener a configuration is for, nor read the environment: callers pass paths,
//! settings and `now`.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};

mod armor;
mod client;
mod generate;
mod server;
mod settings;

pub(crate) use armor::{decode_certificates, decode_csr, decode_private_key, encode, is_pem};
pub use client::{client_config, client_config_with_identity, dangerous_unverified_client_config};
pub use generate::{
    CP_CERT_FILE, CP_KEY_FILE, CertKind, KeyType, Provenance, generate_certificate,
    load_or_generate_cp_cert,
};
pub use server::{ClientAuth, ReloadingCert, reloading_server_config, server_config};
pub use settings::{ServerTlsOptions, Version, cipher_suite};

/// Errors from loading, generating or configuring TLS material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate or key file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it failed (e.g. no such file).
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key file (or the directory holding it) could not be written.
    #[error("writing {path}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The PEM holds no `CERTIFICATE` block.
    #[error("no certificate in PEM {origin}")]
    NoCertificate {
        /// The file, or `<memory>` for PEM given as bytes.
        origin: String,
    },
    /// The PEM holds no private key.
    #[error("no private key in PEM {origin}")]
    NoKey {
        /// The file, or `<memory>`.
        origin: String,
    },
    /// The PEM could not be parsed.
    #[error("invalid PEM {origin}")]
    Pem {
        /// The file, or `<memory>`.
        origin: String,
        /// The parse error.
        #[source]
        source: pem::Error,
    },
    /// The private key does not belong to the first certificate, or cannot be used.
    #[error("key {key} does not match certificate {cert}")]
    KeyMismatch {
        /// Where the certificate came from.
        cert: String,
        /// Where the key came from.
        key: String,
        /// What rustls found.
        #[source]
        source: rustls::Error,
    },
    /// `kumactl generate tls-certificate` got no hostname (Kuma's text).
    #[error("at least one hostname must be given")]
    NoHostname,
    /// The host name of this machine could not be read.
    #[error("reading the host name")]
    Hostname(#[source] std::io::Error),
    /// The network interfaces could not be listed.
    #[error("listing the network interfaces")]
    Interfaces(#[source] local_ip_address::Error),
    /// rcgen refused to build a key or certificate.
    #[error("generating a certificate")]
    Generate(#[source] rcgen::Error),
    /// A cipher suite name that Go knows but rustls does not, or a name nobody knows.
    #[error("cipher suite {0:?} is unknown or not supported")]
    UnsupportedCipherSuite(String),
    /// The minimum TLS version is above the maximum.
    #[error("TLS min version {min} is above max version {max}")]
    VersionRange {
        /// The minimum.
        min: Version,
        /// The maximum.
        max: Version,
    },
    /// The CA bundle for peer verification holds nothing usable.
    #[error("no usable CA certificate in {origin}")]
    NoRoots {
        /// Where the bundle came from.
        origin: String,
    },
    /// rustls refused the configuration (e.g. no cipher suite left for the chosen versions).
    #[error("building the TLS configuration")]
    Config(#[source] rustls::Error),
    /// rustls refused the client certificate verifier.
    #[error("building the client certificate verifier")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
}

/// A certificate chain (leaf first) and its private key, both PEM.
#[derive(Clone)]
pub struct CertPair {
    /// The leaf certificate followed by the certificates that issued it.
    pub cert_pem: String,
    /// The leaf's private key (PKCS#8, SEC1 or PKCS#1 PEM).
    pub key_pem: SecretString,
}

impl CertPair {
    /// Parses the chain, leaf first.
    pub fn chain(&self) -> Result<Vec<CertificateDer<'static>>, Error> {
        parse_certs(self.cert_pem.as_bytes(), "<memory>")
    }

    /// Parses the private key.
    pub fn key(&self) -> Result<PrivateKeyDer<'static>, Error> {
        parse_key(self.key_pem.expose_secret().as_bytes(), "<memory>")
    }

    /// Builds the rustls form, checking that the key belongs to the leaf.
    pub fn certified_key(&self) -> Result<rustls::sign::CertifiedKey, Error> {
        certified_key(self.chain()?, self.key()?, "<memory>", "<memory>")
    }
}

impl fmt::Debug for CertPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertPair")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// Reads a certificate chain and its key from PEM files and checks that they belong together.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertPair, Error> {
    let cert_pem = read_string(cert)?;
    let key_pem = SecretString::from(read_string(key)?);
    let cert_origin = cert.display().to_string();
    let key_origin = key.display().to_string();
    let chain = parse_certs(cert_pem.as_bytes(), &cert_origin)?;
    let key_der = parse_key(key_pem.expose_secret().as_bytes(), &key_origin)?;
    certified_key(chain, key_der, &cert_origin, &key_origin)?;
    Ok(CertPair { cert_pem, key_pem })
}

fn read_string(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_owned(), source })
}

/// Parses every `CERTIFICATE` block; `origin` names the source in errors.
pub(crate) fn parse_certs(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| Error::Pem { origin: origin.to_owned(), source })?;
    if certs.is_empty() {
        return Err(Error::NoCertificate { origin: origin.to_owned() });
    }
    Ok(certs)
}

fn parse_key(pem: &[u8], origin: &str) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| match source {
        pem::Error::NoItemsFound => Error::NoKey { origin: origin.to_owned() },
        source => Error::Pem { origin: origin.to_owned(), source },
    })
}

fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_origin: &str,
    key_origin: &str,
) -> Result<rustls::sign::CertifiedKey, Error> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let certified = rustls::sign::CertifiedKey::from_der(chain, key, &provider);
    // from_der tolerates keys whose public half is unknown; aws-lc-rs always knows it, so a
    // mismatch is always caught.
    certified.map_err(|source| Error::KeyMismatch {
        cert: cert_origin.to_owned(),
        key: key_origin.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;

/// The DNS names in the subject alternative names of a DER certificate (empty when it has none
/// or does not parse). Used to bind a client certificate to a zone name.
pub fn dns_names(der: &[u8]) -> Option<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let san = cert.subject_alternative_name().ok().flatten()?;
    Some(
        san.value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(name) => Some((*name).to_owned()),
                _ => None,
            })
            .collect(),
    )
}
