//! The `builtin` backend: its `conf`, and the self-signed root the control plane generates once
//! per mesh and backend.
//!
//! Generating is all this does. Storing the pair as the `{mesh}.ca-builtin-*` secrets (only when
//! they are absent) is the caller's job.

use std::fmt;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, RsaKeySize, SanType,
};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{BACKDATE, Error, after, random_serial, x509};
use crate::resources::strict;
use crate::resources::{KumaDuration, ValidationError};

/// Lifetime of a builtin root when `caCert.expiration` is unset (Kuma's default).
const DEFAULT_ROOT_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// A builtin backend's `conf`: `{ caCert: { RSAbits, expiration } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuiltinConf {
    /// `caCert.RSAbits`: generate an RSA root of this size (2048, 3072 or 4096). Unset or 0 means
    /// ECDSA P-256.
    pub rsa_bits: Option<u32>,
    /// `caCert.expiration`: the root's lifetime; 10 years when unset.
    pub expiration: Option<KumaDuration>,
}

/// A CA certificate and its private key, both PEM, as stored in the two CA secrets.
#[derive(Clone)]
pub struct CaKeyPair {
    /// The CA certificate (`CERTIFICATE`).
    pub cert_pem: String,
    /// The private key: PKCS#1 `RSA PRIVATE KEY` for RSA (Kuma's form), PKCS#8 for ECDSA.
    pub key_pem: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConf {
    #[serde(default, rename = "caCert", alias = "ca_cert")]
    ca_cert: Option<RawCaCert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCaCert {
    #[serde(default, rename = "RSAbits", alias = "rsa_bits")]
    rsa_bits: Option<u32>,
    #[serde(default)]
    expiration: Option<String>,
}

impl BuiltinConf {
    /// Reads a backend's `conf` with Kuma's messages; `at` is its field path
    /// (`mtls.backends[0].conf`).
    pub fn parse(conf: Option<&Map<String, Value>>, at: &str) -> Result<Self, ValidationError> {
        let value = Value::Object(conf.cloned().unwrap_or_default());
        // Strict: `"caCert": [2048, "10y"]` is not a caCert.
        let raw: RawConf = strict::parse(value).map_err(|err| {
            let mut out = ValidationError::default();
            for v in err.violations {
                let field =
                    if v.field.is_empty() { at.to_owned() } else { format!("{at}.{}", v.field) };
                out.push(field, format!("could not convert backend config: {}", v.message));
            }
            out
        })?;
        let Some(ca_cert) = raw.ca_cert else {
            return Ok(Self::default());
        };
        let mut err = ValidationError::default();
        let rsa_bits = ca_cert.rsa_bits.filter(|bits| *bits != 0);
        if let Some(bits) = rsa_bits
            && rsa_key_size(bits).is_none()
        {
            err.push(format!("{at}.caCert.RSAbits"), "must be one of 2048, 3072 or 4096");
        }
        let expiration = match ca_cert.expiration.as_deref() {
            None | Some("") => None,
            Some(text) => KumaDuration::parse(text)
                .inspect_err(|_| {
                    err.push(format!("{at}.caCert.expiration"), "has to be a valid format");
                })
                .ok(),
        };
        err.into_result()?;
        Ok(Self { rsa_bits, expiration })
    }
}

impl fmt::Debug for CaKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaKeyPair")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// Name of the secret holding a builtin backend's CA certificate (`default.ca-builtin-cert-ca-1`).
pub fn builtin_cert_secret_name(mesh: &str, backend: &str) -> String {
    format!("{mesh}.ca-builtin-cert-{backend}")
}

/// Name of the secret holding a builtin backend's CA key (`default.ca-builtin-key-ca-1`).
pub fn builtin_key_secret_name(mesh: &str, backend: &str) -> String {
    format!("{mesh}.ca-builtin-key-{backend}")
}

/// Generates a builtin backend's self-signed root for `mesh`: Subject `O=Kuma, OU=Mesh,
/// CN=<mesh>`, URI SAN `spiffe://<mesh>`, `CA:true`, key usage keyCertSign and cRLSign, valid
/// from `now` − 10s for `conf.expiration` (10 years by default).
///
/// Two deliberate differences from Kuma: without `RSAbits` the key is ECDSA P-256 rather than
/// RSA-2048 (smaller and faster; proxies accept both), and the serial number is random and positive
/// rather than 0, which RFC 5280 §4.1.2.2 forbids.
pub fn generate_builtin_root(
    mesh: &str,
    conf: &BuiltinConf,
    now: OffsetDateTime,
) -> Result<CaKeyPair, Error> {
    let key = match conf.rsa_bits {
        None => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
        Some(bits) => {
            let size = rsa_key_size(bits).ok_or(Error::RsaBits(bits))?;
            KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, size)
        }
    }
    .map_err(Error::Generate)?;

    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "Kuma");
    params.distinguished_name.push(DnType::OrganizationalUnitName, "Mesh");
    params.distinguished_name.push(DnType::CommonName, mesh);
    let spiffe = format!("spiffe://{mesh}");
    let uri = spiffe.clone().try_into().map_err(|source| Error::Tag { tag: spiffe, source })?;
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial()?);
    params.not_before = now - BACKDATE;
    let validity = conf.expiration.map_or(DEFAULT_ROOT_VALIDITY, |e| e.as_std());
    params.not_after = after(now, validity)?;
    let cert = params.self_signed(&key).map_err(Error::Generate)?;

    let key_pem = if conf.rsa_bits.is_some() {
        let pkcs1 = x509::pkcs1_from_pkcs8(key.serialized_der())
            .ok_or(Error::Generate(rcgen::Error::CouldNotParseKeyPair))?;
        crate::tls::encode("RSA PRIVATE KEY", &pkcs1)
    } else {
        key.serialize_pem()
    };
    Ok(CaKeyPair { cert_pem: cert.pem(), key_pem: SecretString::from(key_pem) })
}

fn rsa_key_size(bits: u32) -> Option<RsaKeySize> {
    match bits {
        2048 => Some(RsaKeySize::_2048),
        3072 => Some(RsaKeySize::_3072),
        4096 => Some(RsaKeySize::_4096),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
