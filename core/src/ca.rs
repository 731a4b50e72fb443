//! Mesh certificate authorities: Kuma's `builtin` and `provided` mTLS backends, and the
//! certificates they issue to data plane proxies from a CSR.
//!
//! This module takes bytes and returns bytes. It generates a builtin root, checks a provided CA
//! and a Mesh's backend configuration with Kuma's messages, and signs a proxy's certificate for
//! the identity `crate::identity` derives. It must not know about the store or the API: loading
//! and saving the CA secrets, and deciding when to issue, is the caller's job. Every function that depends on the
//! clock takes `now`. PEM is read and written through `crate::tls`.

use std::time::Duration;

use time::OffsetDateTime;

mod builtin;
mod issuer;
mod mesh;
mod provided;
#[cfg(test)]
mod test_ca;
mod x509;

pub use builtin::{
    BuiltinConf, CaKeyPair, builtin_cert_secret_name, builtin_key_secret_name,
    generate_builtin_root,
};
pub use issuer::{IssuedCert, Issuer};
pub use mesh::{check_backend_change, secret_in_use_message, used_secrets, validate_mesh_backends};
pub use provided::{DataSource, ProvidedConf, validate_provided};

/// How long a data plane certificate lives when `dpCert.rotation.expiration` is unset: 30 days,
/// as Kuma's documentation says. Kuma 2.14's code uses 24 hours (and master 5 days); we follow the
/// documented value.
pub const DEFAULT_DP_CERT_VALIDITY: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How far certificates are backdated, to tolerate clock skew between proxies (Kuma's value).
const BACKDATE: Duration = Duration::from_secs(10);

/// Errors from generating a CA, loading one or issuing a certificate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `caCert.RSAbits` is not a size we generate.
    #[error("RSA key size {0} is not supported (use 2048, 3072 or 4096)")]
    RsaBits(u32),
    /// The CA certificate chain could not be read.
    #[error("reading the CA certificate chain")]
    CaCert(#[source] crate::tls::Error),
    /// A certificate of the CA chain is not valid X.509.
    #[error("CA certificate {index} is not a valid x509 certificate: {reason}")]
    CaCertParse {
        /// Position in the chain, from 0.
        index: usize,
        /// What the parser found.
        reason: String,
    },
    /// The CA private key could not be read.
    #[error("reading the CA private key")]
    CaKey(#[source] crate::tls::Error),
    /// The CA private key is not one we can sign with.
    #[error("the CA private key cannot be used")]
    CaKeyUnusable(#[source] rcgen::Error),
    /// The CA private key does not belong to the first certificate of the chain.
    #[error("the CA private key does not match the first certificate of the chain")]
    KeyMismatch,
    /// A provided backend names a secret the mesh does not have (Kuma's store text).
    #[error("resource not found: type=\"Secret\" name={name:?} mesh={mesh:?}")]
    SecretNotFound {
        /// The secret.
        name: String,
        /// The mesh it was looked up in.
        mesh: String,
    },
    /// A provided backend's `file` source could not be read.
    #[error("reading {path}")]
    ReadFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The CSR could not be read as PEM.
    #[error("reading the certificate signing request")]
    CsrPem(#[source] crate::tls::Error),
    /// The CSR is not a valid PKCS#10 request.
    #[error("the certificate signing request is not valid: {0}")]
    CsrParse(String),
    /// The CSR's signature does not verify with its own public key (no proof of possession).
    #[error("the certificate signing request signature is invalid")]
    CsrSignature,
    /// The CSR's public key is neither ECDSA P-256/P-384 nor RSA of at least 2048 bits.
    #[error("unsupported public key in the certificate signing request: {0}")]
    UnsupportedKey(String),
    /// A tag turns into a SAN that is not a valid IA5 URI (e.g. non-ASCII text).
    #[error("tag {tag:?} cannot be put in a certificate")]
    Tag {
        /// The tag, as `key/value`.
        tag: String,
        /// rcgen's complaint.
        #[source]
        source: rcgen::Error,
    },
    /// rcgen could not reproduce the CA's subject as the leaf's issuer name (e.g. a subject with
    /// repeated or multi-valued attributes), so the leaf would not chain.
    #[error("the CA subject cannot be reproduced as the issuer name")]
    IssuerName,
    /// The random serial number could not be drawn.
    #[error("drawing a random serial number")]
    Random(#[source] getrandom::Error),
    /// The validity period does not fit in a certificate.
    #[error("validity of {0:?} is out of range")]
    Validity(Duration),
    /// rcgen refused to build a key or certificate.
    #[error("generating a certificate")]
    Generate(#[source] rcgen::Error),
}

impl Error {
    /// Whether the request is at fault (its CSR, or a tag that cannot go in a certificate), so
    /// the requester may be told why; otherwise the CA or this process failed, which is no
    /// business of the requester's.
    pub fn is_request_error(&self) -> bool {
        matches!(
            self,
            Self::CsrPem(_)
                | Self::CsrParse(_)
                | Self::CsrSignature
                | Self::UnsupportedKey(_)
                | Self::Tag { .. }
        )
    }
}

/// Whether a certificate issued at `issued_at` and valid until `not_after` should be replaced:
/// Kuma regenerates once 4/5 of the lifetime has passed.
pub fn rotation_due(
    issued_at: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> bool {
    now > rotation_at(issued_at, not_after, 0.0)
}

/// When to replace a certificate: at 4/5 of its lifetime, moved earlier by up to a tenth of the
/// lifetime as `jitter_fraction` (clamped to `0.0..=1.0`) grows, so that proxies issued together
/// do not all come back at once. `jitter_fraction = 0.0` gives the `rotation_due` boundary.
pub fn rotation_at(
    issued_at: OffsetDateTime,
    not_after: OffsetDateTime,
    jitter_fraction: f64,
) -> OffsetDateTime {
    let lifetime = not_after - issued_at;
    let jitter = if jitter_fraction.is_nan() { 0.0 } else { jitter_fraction.clamp(0.0, 1.0) };
    issued_at + lifetime * (0.8 - 0.1 * jitter)
}

/// A random serial number: 16 bytes with the top bit clear and the next one set, so it is
/// positive, never zero and always 127 bits long (RFC 5280 §4.1.2.2 allows up to 20 octets).
fn random_serial() -> Result<rcgen::SerialNumber, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(Error::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

/// `now + d` as a certificate time.
fn after(now: OffsetDateTime, d: Duration) -> Result<OffsetDateTime, Error> {
    now.checked_add(time::Duration::try_from(d).map_err(|_| Error::Validity(d))?)
        .filter(|t| t.year() <= 9999)
        .ok_or(Error::Validity(d))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn rotation_is_due_after_four_fifths_of_the_lifetime() {
        let issued = datetime!(2025-01-01 00:00 UTC);
        let not_after = issued + time::Duration::days(30);
        assert!(!rotation_due(issued, not_after, issued + time::Duration::days(24)));
        assert!(rotation_due(
            issued,
            not_after,
            issued + time::Duration::days(24) + time::Duration::seconds(1)
        ));
        assert!(!rotation_due(issued, not_after, issued));
    }

    #[test]
    fn jitter_moves_rotation_earlier_by_at_most_a_tenth() {
        let issued = datetime!(2025-01-01 00:00 UTC);
        let not_after = issued + time::Duration::days(10);
        assert_eq!(rotation_at(issued, not_after, 0.0), issued + time::Duration::days(8));
        assert_eq!(rotation_at(issued, not_after, 1.0), issued + time::Duration::days(7));
        assert_eq!(rotation_at(issued, not_after, 5.0), rotation_at(issued, not_after, 1.0));
        assert_eq!(rotation_at(issued, not_after, f64::NAN), rotation_at(issued, not_after, 0.0));
    }

    #[test]
    fn serials_are_positive_and_differ() {
        let a = random_serial().unwrap();
        let b = random_serial().unwrap();
        assert_ne!(a, b);
        let bytes = a.as_ref();
        assert_eq!(bytes.len(), 16);
        assert_eq!(bytes[0] & 0xc0, 0x40);
    }

    #[test]
    fn validity_past_year_9999_is_refused() {
        let now = datetime!(2025-01-01 00:00 UTC);
        let far = Duration::from_secs(10_000 * 365 * 24 * 3600);
        assert!(matches!(after(now, far), Err(Error::Validity(_))));
        assert_eq!(after(now, Duration::from_secs(60)).unwrap(), now + time::Duration::minutes(1));
    }
}
