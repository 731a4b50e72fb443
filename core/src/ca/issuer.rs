//! Signing data plane certificates: a loaded CA (`Issuer`) turns a proxy's CSR and its
//! [`Identity`] into a short-lived X509-SVID.
//!
//! The CSR only proves that the proxy holds the private key: every name it asks for is ignored and
//! the SANs come from the identity alone. Choosing the validity and when to re-issue is the
//! caller's job (see [`super::rotation_due`]).

use std::fmt;
use std::time::Duration;

use rcgen::{
    CertificateParams, DistinguishedName, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use time::OffsetDateTime;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::x509::{self, Chain};
use super::{BACKDATE, Error, after, random_serial};
use crate::identity::Identity;

/// The smallest RSA key a proxy may have certified.
const MIN_RSA_BITS: usize = 2048;

/// A mesh CA ready to sign: the first certificate of its chain and that certificate's key.
pub struct Issuer {
    signer: rcgen::Issuer<'static, KeyPair>,
    /// Subject of the signing certificate, DER, to check what rcgen writes as the issuer.
    subject: Vec<u8>,
    intermediates_pem: String,
    bundle_pem: String,
}

/// A signed data plane certificate and what a proxy needs beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    /// The leaf certificate alone (what Kuma puts in the identity secret).
    pub cert_pem: String,
    /// The leaf followed by the CA chain's intermediates, without self-signed roots.
    pub chain_pem: String,
    /// Every certificate of the backend's CA chain (the whole provided chain, or the builtin
    /// root): what peers must trust. Like Kuma, intermediates are trust anchors too.
    pub trust_bundle_pem: String,
    /// Start of validity (`now` − 10s).
    pub not_before: OffsetDateTime,
    /// End of validity (`now` + validity).
    pub not_after: OffsetDateTime,
    /// The serial number, big-endian, positive.
    pub serial: Vec<u8>,
}

impl Issuer {
    /// Loads a CA from its certificate chain (the signing certificate first; for a provided CA
    /// with intermediates, the closest intermediate, then up to the roots) and the PEM private key
    /// of the first certificate (RSA PKCS#1 or PKCS#8, ECDSA SEC1 or PKCS#8).
    pub fn new(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, Error> {
        let chain = Chain::from_pem(chain_pem)?;
        let key_der = crate::tls::decode_private_key(key_pem).map_err(Error::CaKey)?;
        let key = KeyPair::try_from(&key_der).map_err(Error::CaKeyUnusable)?;
        let first =
            x509::parse(chain.first()).map_err(|reason| Error::CaCertParse { index: 0, reason })?;
        if !x509::key_matches(&first, &key) {
            return Err(Error::KeyMismatch);
        }
        let subject = first.subject().as_raw().to_vec();
        let signer = rcgen::Issuer::from_ca_cert_der(chain.first(), key)
            .map_err(|e| Error::CaCertParse { index: 0, reason: e.to_string() })?;
        let pem = |der: &[u8]| crate::tls::encode("CERTIFICATE", der);
        Ok(Self {
            signer,
            subject,
            intermediates_pem: chain.intermediates().map(|c| pem(c)).collect(),
            bundle_pem: chain.certs.iter().map(|c| pem(c)).collect(),
        })
    }

    /// Every certificate of the CA chain, PEM: what peers must trust.
    pub fn trust_bundle_pem(&self) -> &str {
        &self.bundle_pem
    }

    /// Signs a certificate for `id` with the public key of `csr` (PEM or DER), valid from
    /// `now` − 10s to `now` + `validity`.
    ///
    /// The CSR's signature must verify (proof of possession) and its key must be ECDSA P-256,
    /// P-384 or RSA of at least 2048 bits. Its subject and extensions are ignored. The
    /// certificate has an empty subject, the URI SANs of [`Identity::uris`], key usage
    /// digitalSignature, keyEncipherment and keyAgreement (Kuma's set), extended key usage
    /// serverAuth and clientAuth, `CA:false`, an authority key identifier and a random serial.
    pub fn issue(
        &self,
        csr: &[u8],
        id: &Identity,
        validity: Duration,
        now: OffsetDateTime,
    ) -> Result<IssuedCert, Error> {
        let der = if crate::tls::is_pem(csr) {
            crate::tls::decode_csr(csr).map_err(Error::CsrPem)?.as_ref().to_vec()
        } else {
            csr.to_vec()
        };
        let request = match X509CertificationRequest::from_der(&der) {
            Ok((rest, _)) if !rest.is_empty() => {
                return Err(Error::CsrParse("trailing data".to_owned()));
            }
            Ok((_, request)) => request,
            Err(e) => return Err(Error::CsrParse(e.to_string())),
        };
        let spki = &request.certification_request_info.subject_pki;
        check_key(spki)?;
        request.verify_signature().map_err(|_| Error::CsrSignature)?;
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(spki.raw)
            .map_err(|e| Error::UnsupportedKey(e.to_string()))?;

        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = id
            .uris()
            .into_iter()
            .map(|uri| match uri.clone().try_into() {
                Ok(ia5) => Ok(SanType::URI(ia5)),
                Err(source) => Err(Error::Tag { tag: uri, source }),
            })
            .collect::<Result<_, _>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
        ];
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let serial = random_serial()?;
        params.serial_number = Some(serial.clone());
        params.not_before = now - BACKDATE;
        params.not_after = after(now, validity)?;
        let cert = params.signed_by(&public_key, &self.signer).map_err(Error::Generate)?;

        // rcgen rebuilds the issuer name from its parsed form; a CA subject it cannot reproduce
        // byte for byte (e.g. repeated attributes) would give a leaf no verifier can chain.
        let leaf =
            x509::parse(cert.der()).map_err(|reason| Error::CaCertParse { index: 0, reason })?;
        if leaf.issuer().as_raw() != self.subject.as_slice() {
            return Err(Error::IssuerName);
        }
        let cert_pem = cert.pem();
        Ok(IssuedCert {
            chain_pem: format!("{cert_pem}{}", self.intermediates_pem),
            cert_pem,
            trust_bundle_pem: self.bundle_pem.clone(),
            not_before: params.not_before,
            not_after: params.not_after,
            serial: serial.to_bytes(),
        })
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer").field("trust_bundle_pem", &self.bundle_pem).finish_non_exhaustive()
    }
}

/// Accepts ECDSA P-256 and P-384 keys and RSA keys of at least 2048 bits.
fn check_key(spki: &SubjectPublicKeyInfo<'_>) -> Result<(), Error> {
    let algorithm = &spki.algorithm.algorithm;
    if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == OID_EC_P256 || c == OID_NIST_EC_P384 => Ok(()),
            Some(c) => Err(Error::UnsupportedKey(format!("ECDSA curve {c}"))),
            None => Err(Error::UnsupportedKey("ECDSA without a named curve".to_owned())),
        };
    }
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
            return Err(Error::UnsupportedKey("malformed RSA key".to_owned()));
        };
        let bits = modulus_bits(rsa.modulus);
        return if bits >= MIN_RSA_BITS {
            Ok(())
        } else {
            Err(Error::UnsupportedKey(format!("RSA key of {bits} bits")))
        };
    }
    Err(Error::UnsupportedKey(format!("algorithm {algorithm}")))
}

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
fn modulus_bits(modulus: &[u8]) -> usize {
    let start = modulus.iter().position(|b| *b != 0).unwrap_or(modulus.len());
    match modulus.get(start) {
        Some(first) => (modulus.len() - start) * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests;
