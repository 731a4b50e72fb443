//! Small X.509 and key facts the CA needs: parsing a chain, matching a key to a certificate,
//! telling roots from intermediates and re-wrapping an RSA key as PKCS#1.
//!
//! Only DER lives here; PEM goes through `crate::tls`. Nothing here decides what is acceptable.

use rcgen::KeyPair;
use rustls_pki_types::CertificateDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::der::parse_der;
use x509_parser::prelude::FromDer;

use super::Error;

/// A parsed CA chain: the DER blocks, first one signing.
pub(super) struct Chain {
    pub(super) certs: Vec<CertificateDer<'static>>,
}

impl Chain {
    /// Reads every certificate of `pem`; each must be valid X.509.
    pub(super) fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let certs = crate::tls::decode_certificates(pem).map_err(Error::CaCert)?;
        for (index, der) in certs.iter().enumerate() {
            parse(der).map_err(|reason| Error::CaCertParse { index, reason })?;
        }
        Ok(Self { certs })
    }

    /// The certificate that signs.
    pub(super) fn first(&self) -> &CertificateDer<'static> {
        // Invariant: `from_pem` refuses a PEM without certificates.
        &self.certs[0]
    }

    /// The certificates a peer needs besides its trust anchors: all but the self-issued ones.
    pub(super) fn intermediates(&self) -> impl Iterator<Item = &CertificateDer<'static>> {
        self.certs.iter().filter(|der| parse(der).is_ok_and(|c| !self_issued(&c)))
    }
}

/// Parses one DER certificate, refusing trailing bytes; the error is the parser's text.
pub(super) fn parse<'a>(der: &'a [u8]) -> Result<X509Certificate<'a>, String> {
    match X509Certificate::from_der(der) {
        Ok((rest, _)) if !rest.is_empty() => Err("trailing data".to_owned()),
        Ok((_, cert)) => Ok(cert),
        Err(err) => Err(err.to_string()),
    }
}

/// Whether the certificate names itself as its issuer (a root, or a self-issued CA).
pub(super) fn self_issued(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw()
}

/// Whether `key` is the private half of `cert`'s public key.
pub(super) fn key_matches(cert: &X509Certificate<'_>, key: &KeyPair) -> bool {
    cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw()
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` holding an RSA key.
pub(super) fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Option<Vec<u8>> {
    // PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING, ... }
    let (_, info) = parse_der(pkcs8).ok()?;
    let fields = info.as_sequence().ok()?;
    Some(fields.get(2)?.as_slice().ok()?.to_vec())
}
