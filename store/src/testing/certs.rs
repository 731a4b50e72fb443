//! Throwaway certificate authorities for test servers, minted in memory so nothing expires.
//!
//! Every CA signs leaves with `CA:FALSE` and SANs, the shape rustls (and so sqlx) accepts for
//! `verifyFull`. Nothing here may be used outside tests: keys are never protected.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// How long test certificates stay valid, from a little in the past to tolerate clock skew.
const VALIDITY: Duration = Duration::days(1);
const BACKDATE: Duration = Duration::minutes(5);

/// A certificate and its private key, as PEM.
pub(crate) struct Pem {
    /// The leaf followed by the CA that signed it.
    pub(crate) chain: String,
    /// PKCS#8 private key.
    pub(crate) key: String,
}

/// A self-signed CA that issues server and client certificates.
pub(crate) struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA with its own P-256 key.
    pub(crate) fn new(name: &str) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Self { issuer })
    }

    /// The CA certificate, as a trust anchor.
    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for these DNS names and IP addresses.
    pub(crate) fn server(&self, sans: &[&str]) -> Result<Pem, rcgen::Error> {
        let names: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(DnType::CommonName, sans.first().copied().unwrap_or(""));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.leaf(params)
    }

    /// A client certificate whose common name is `user`, as PostgreSQL's `cert` login wants.
    pub(crate) fn client(&self, user: &str) -> Result<Pem, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::new())?;
        params.distinguished_name.push(DnType::CommonName, user);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.leaf(params)
    }

    fn leaf(&self, mut params: CertificateParams) -> Result<Pem, rcgen::Error> {
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Pem { chain: format!("{}{}", cert.pem(), self.pem()), key: key.serialize_pem() })
    }
}

fn set_validity(params: &mut CertificateParams) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + VALIDITY;
}
