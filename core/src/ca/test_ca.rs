//! Test-only builders for CA certificates of every shape the checks must tell apart, and CSRs.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SanType, SignatureAlgorithm,
};
use time::OffsetDateTime;

/// A CA certificate and key as PEM, plus the issuer to sign with.
pub(super) struct TestCa {
    pub(super) cert_pem: String,
    pub(super) key_pem: String,
    pub(super) issuer: CertifiedIssuer<'static, KeyPair>,
}

/// Parameters of a CA named `cn` with `usages`, valid around now.
pub(super) fn ca_params(cn: &str, is_ca: bool, usages: &[KeyUsagePurpose]) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca =
        if is_ca { IsCa::Ca(BasicConstraints::Unconstrained) } else { IsCa::ExplicitNoCa };
    params.key_usages = usages.to_vec();
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(1);
    params
}

/// A self-signed CA with keyCertSign and cRLSign.
pub(super) fn root(cn: &str) -> TestCa {
    self_signed(ca_params(cn, true, &[KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign]))
}

/// A self-signed certificate from `params` with a new P-256 key.
pub(super) fn self_signed(params: CertificateParams) -> TestCa {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let key_pem = key.serialize_pem();
    let issuer = CertifiedIssuer::self_signed(params, key).unwrap();
    TestCa { cert_pem: issuer.pem(), key_pem, issuer }
}

/// An intermediate CA signed by `parent`.
pub(super) fn intermediate(cn: &str, parent: &TestCa) -> TestCa {
    let params = ca_params(cn, true, &[KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign]);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let key_pem = key.serialize_pem();
    let issuer = CertifiedIssuer::signed_by(params, key, &parent.issuer).unwrap();
    TestCa { cert_pem: issuer.pem(), key_pem, issuer }
}

/// A CSR for a new `alg` key that asks for a subject and SANs the issuer must ignore.
pub(super) fn csr(alg: &'static SignatureAlgorithm) -> String {
    let key = KeyPair::generate_for(alg).unwrap();
    csr_for(&key)
}

/// A CSR signed by `key`, asking for `CN=admin`, `evil.example.com` and an admin SPIFFE ID.
pub(super) fn csr_for(key: &KeyPair) -> String {
    let mut params = CertificateParams::new(vec!["evil.example.com".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "admin");
    params.subject_alt_names.push(SanType::URI("spiffe://default/admin".try_into().unwrap()));
    params.serialize_request(key).unwrap().pem().unwrap()
}
