//! The `csr` target: bytes as the CSR a proxy sends to the DP server, signed by a real builtin CA
//! exactly as the server does (`ca::Issuer::issue`), and as a CA chain for `Issuer::new` (a
//! provided CA's certificate secret comes from users through the API).
//!
//! A CA that issued must produce a certificate that parses and carries the identity's SANs only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::Duration;

use kuma_core::ca::{BuiltinConf, Issuer, generate_builtin_root};
use kuma_core::identity::Identity;
use rcgen::{CertificateParams, DnType, KeyPair, SanType, SignatureAlgorithm};
use secrecy::ExposeSecret;
use time::OffsetDateTime;
use time::macros::datetime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
const VALIDITY: Duration = Duration::from_secs(24 * 3600);

struct Fixture {
    issuer: Issuer,
    key_pem: String,
    identity: Identity,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ca = generate_builtin_root("default", &BuiltinConf::default(), NOW)
            .expect("generating a builtin CA");
        let key_pem = ca.key_pem.expose_secret().to_owned();
        let issuer =
            Issuer::new(ca.cert_pem.as_bytes(), key_pem.as_bytes()).expect("loading the CA");
        let tags = BTreeMap::from([
            ("kuma.io/service".to_owned(), BTreeSet::from(["web".to_owned()])),
            ("version".to_owned(), BTreeSet::from(["v1".to_owned(), "v2".to_owned()])),
        ]);
        Fixture { issuer, key_pem, identity: Identity { mesh: "default".into(), tags } }
    })
}

/// `data` as a CSR to sign, then as a CA chain to load.
pub fn run(data: &[u8]) {
    let f = fixture();
    if let Ok(issued) = f.issuer.issue(data, &f.identity, VALIDITY, NOW) {
        check_issued(&issued.cert_pem, &f.identity);
    }
    let _ = Issuer::new(data, f.key_pem.as_bytes());
}

/// The leaf parses and names exactly the identity's URIs, whatever the CSR asked for.
fn check_issued(cert_pem: &str, identity: &Identity) {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).expect("issued PEM");
    let (_, cert) = X509Certificate::from_der(&pem.contents).expect("issued certificate");
    let san = cert.subject_alternative_name().expect("SAN extension").expect("SANs present");
    let uris: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::URI(uri) => (*uri).to_owned(),
            other => panic!("unexpected SAN {other:?} in an issued certificate"),
        })
        .collect();
    assert_eq!(uris, identity.uris(), "issued SANs differ from the identity");
    assert!(cert.subject().iter().next().is_none(), "issued subject is not empty");
}

/// CSRs for every accepted key type, as DER and PEM, and one with a key that is refused.
pub fn seeds() -> Vec<Vec<u8>> {
    let algs: [&'static SignatureAlgorithm; 3] =
        [&rcgen::PKCS_ECDSA_P256_SHA256, &rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_RSA_SHA256];
    let mut seeds = Vec::new();
    for alg in algs {
        let key = KeyPair::generate_for(alg).expect("generating a key");
        let mut params =
            CertificateParams::new(vec!["evil.example.com".to_owned()]).expect("CSR params");
        params.distinguished_name.push(DnType::CommonName, "admin");
        let uri = "spiffe://default/admin".try_into().expect("URI SAN");
        params.subject_alt_names.push(SanType::URI(uri));
        let csr = params.serialize_request(&key).expect("serializing a CSR");
        seeds.push(csr.der().to_vec());
        seeds.push(csr.pem().expect("CSR PEM").into_bytes());
    }
    let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("generating an Ed25519 key");
    let csr = CertificateParams::default().serialize_request(&ed).expect("serializing a CSR");
    seeds.push(csr.der().to_vec());
    let ca = generate_builtin_root("seed", &BuiltinConf::default(), NOW).expect("a CA");
    seeds.push(ca.cert_pem.into_bytes());
    seeds
}
