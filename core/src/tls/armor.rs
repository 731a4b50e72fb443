//! PEM armor for the CA: decoding certificate chains, keys and CSRs, and encoding DER blocks.
//!
//! These helpers exist so that `ca` can take and return PEM without parsing it itself (only `tls`
//! reads PEM). They only move between PEM text and DER bytes; what the DER means is the caller's
//! business.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer};

use super::{Error, parse_key};

const MEMORY: &str = "<memory>";
const LINE: usize = 64;

/// Every `CERTIFICATE` block of `pem`, in order; an error when there is none.
pub(crate) fn decode_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    super::parse_certs(pem, MEMORY)
}

/// The first private key of `pem` (PKCS#8, PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`).
pub(crate) fn decode_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    parse_key(pem, MEMORY)
}

/// The first `CERTIFICATE REQUEST` block of `pem`.
pub(crate) fn decode_csr(pem: &[u8]) -> Result<CertificateSigningRequestDer<'static>, Error> {
    CertificateSigningRequestDer::from_pem_slice(pem)
        .map_err(|source| Error::Pem { origin: MEMORY.to_owned(), source })
}

/// Whether `bytes` look like PEM (a `-----BEGIN` line, possibly after whitespace) rather than DER.
pub(crate) fn is_pem(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().starts_with(b"-----BEGIN ")
}

/// One PEM block with `label` (`CERTIFICATE`, `RSA PRIVATE KEY`, ...), lines of 64 characters and
/// a trailing newline, as Go's `pem.Encode` writes it.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / LINE + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // Base64 output is ASCII, so splitting it into byte chunks keeps every chunk valid UTF-8.
    for line in body.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_block_decodes_back_to_the_same_der() {
        let der: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let pem = encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= LINE));
        let certs = decode_certificates(pem.as_bytes()).unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].as_ref(), der.as_slice());
    }

    #[test]
    fn pem_is_told_apart_from_der() {
        assert!(is_pem(b"\n  -----BEGIN CERTIFICATE REQUEST-----\n"));
        assert!(!is_pem(&[0x30, 0x82, 0x01]));
    }

    #[test]
    fn input_without_blocks_is_refused() {
        assert!(matches!(decode_certificates(b"hello"), Err(Error::NoCertificate { .. })));
        assert!(matches!(decode_private_key(b"hello"), Err(Error::NoKey { .. })));
    }
}
