use std::collections::{BTreeMap, BTreeSet};

use rcgen::{PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ECDSA_P521_SHA512, PKCS_ED25519};
use time::macros::datetime;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::*;
use crate::ca::test_ca::{self, TestCa};
use crate::resources::SERVICE_TAG;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn web() -> Identity {
    Identity {
        mesh: "default".to_owned(),
        tags: BTreeMap::from([
            (SERVICE_TAG.to_owned(), BTreeSet::from(["web-api".to_owned(), "web".to_owned()])),
            ("version".to_owned(), BTreeSet::from(["v1".to_owned()])),
        ]),
    }
}

fn issuer_of(ca: &TestCa) -> Issuer {
    Issuer::new(ca.cert_pem.as_bytes(), ca.key_pem.as_bytes()).unwrap()
}

fn der(pem: &str) -> Vec<Vec<u8>> {
    crate::tls::decode_certificates(pem.as_bytes())
        .unwrap()
        .into_iter()
        .map(|c| c.to_vec())
        .collect()
}

fn uris(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    let san = cert.subject_alternative_name().unwrap().unwrap();
    san.value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::URI(u) => (*u).to_owned(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn leaf_has_kumas_shape_and_ignores_csr_names() {
    let ca = test_ca::root("mesh-ca");
    let issued = issuer_of(&ca)
        .issue(test_ca::csr(&PKCS_ECDSA_P256_SHA256).as_bytes(), &web(), DAY, NOW)
        .unwrap();
    let leaf_der = der(&issued.cert_pem);
    assert_eq!(leaf_der.len(), 1);
    let leaf = x509::parse(&leaf_der[0]).unwrap();

    assert_eq!(
        uris(&leaf),
        [
            "spiffe://default/web",
            "spiffe://default/web-api",
            "kuma://kuma.io/service/web",
            "kuma://kuma.io/service/web-api",
            "kuma://version/v1",
        ]
    );
    assert!(leaf.subject().as_raw().len() <= 2, "subject must be empty");
    let ca_der = der(&ca.cert_pem);
    let ca_cert = x509::parse(&ca_der[0]).unwrap();
    assert_eq!(leaf.issuer().as_raw(), ca_cert.subject().as_raw());

    let bc = leaf.basic_constraints().unwrap().unwrap();
    assert!(!bc.value.ca);
    let ku = leaf.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.key_encipherment() && ku.key_agreement());
    assert!(!ku.key_cert_sign() && !ku.crl_sign());
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);

    let ski = ca_cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .unwrap();
    let aki = leaf
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(aki, ski);

    assert_eq!(leaf.validity().not_before.to_datetime(), NOW - BACKDATE);
    assert_eq!(leaf.validity().not_after.to_datetime(), NOW + DAY);
    assert_eq!(issued.not_before, NOW - BACKDATE);
    assert_eq!(issued.not_after, NOW + DAY);
    assert_eq!(leaf.raw_serial(), issued.serial.as_slice());
    // A root-only chain: nothing to add after the leaf, the root is the bundle.
    assert_eq!(issued.chain_pem, issued.cert_pem);
    assert_eq!(der(&issued.trust_bundle_pem), ca_der);
}

#[test]
fn each_issue_gets_a_new_serial() {
    let issuer = issuer_of(&test_ca::root("ca"));
    let csr = test_ca::csr(&PKCS_ECDSA_P256_SHA256);
    let a = issuer.issue(csr.as_bytes(), &web(), DAY, NOW).unwrap();
    let b = issuer.issue(csr.as_bytes(), &web(), DAY, NOW).unwrap();
    assert_ne!(a.serial, b.serial);
}

#[test]
fn csr_in_der_is_accepted() {
    let issuer = issuer_of(&test_ca::root("ca"));
    let pem = test_ca::csr(&PKCS_ECDSA_P384_SHA384);
    let der = crate::tls::decode_csr(pem.as_bytes()).unwrap();
    issuer.issue(der.as_ref(), &web(), DAY, NOW).unwrap();
}

#[test]
fn csr_with_a_bad_signature_is_refused() {
    let issuer = issuer_of(&test_ca::root("ca"));
    let pem = test_ca::csr(&PKCS_ECDSA_P256_SHA256);
    let mut der = crate::tls::decode_csr(pem.as_bytes()).unwrap().as_ref().to_vec();
    // Flip a bit of the public key: the structure still parses, the signature no longer matches.
    let spki_end = {
        let (_, req) = X509CertificationRequest::from_der(&der).unwrap();
        let raw = req.certification_request_info.subject_pki.raw;
        raw.as_ptr() as usize - der.as_ptr() as usize + raw.len()
    };
    der[spki_end - 1] ^= 0x01;
    let err = issuer.issue(&der, &web(), DAY, NOW).unwrap_err();
    assert!(matches!(err, Error::CsrSignature | Error::CsrParse(_)), "{err:?}");

    // The same for a byte of the signature itself.
    let mut der = crate::tls::decode_csr(pem.as_bytes()).unwrap().as_ref().to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let err = issuer.issue(&der, &web(), DAY, NOW).unwrap_err();
    assert!(matches!(err, Error::CsrSignature), "{err:?}");
}

#[test]
fn garbage_csr_is_refused() {
    let issuer = issuer_of(&test_ca::root("ca"));
    let err = issuer.issue(b"\x30\x03\x02\x01\x00", &web(), DAY, NOW).unwrap_err();
    assert!(matches!(err, Error::CsrParse(_)), "{err:?}");
    let err = issuer
        .issue(b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", &web(), DAY, NOW)
        .unwrap_err();
    assert!(matches!(err, Error::CsrPem(_)), "{err:?}");
}

#[test]
fn weak_or_unknown_keys_are_refused() {
    let issuer = issuer_of(&test_ca::root("ca"));
    for alg in [&PKCS_ECDSA_P521_SHA512, &PKCS_ED25519] {
        let err = issuer.issue(test_ca::csr(alg).as_bytes(), &web(), DAY, NOW).unwrap_err();
        assert!(matches!(err, Error::UnsupportedKey(_)), "{err:?}");
    }
}

#[test]
fn rsa_csr_of_2048_bits_is_accepted() {
    let issuer = issuer_of(&test_ca::root("ca"));
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    issuer.issue(test_ca::csr_for(&key).as_bytes(), &web(), DAY, NOW).unwrap();
}

#[test]
fn modulus_bits_ignore_leading_zeros() {
    assert_eq!(modulus_bits(&[0x00, 0x80, 0x00]), 16);
    assert_eq!(modulus_bits(&[0x01, 0x00]), 9);
    assert_eq!(modulus_bits(&[0x00]), 0);
}

#[test]
fn intermediate_signs_and_the_root_stays_out_of_the_chain() {
    let root = test_ca::root("root");
    let inter = test_ca::intermediate("inter", &root);
    let chain = format!("{}{}", inter.cert_pem, root.cert_pem);
    let issuer = Issuer::new(chain.as_bytes(), inter.key_pem.as_bytes()).unwrap();
    let issued =
        issuer.issue(test_ca::csr(&PKCS_ECDSA_P256_SHA256).as_bytes(), &web(), DAY, NOW).unwrap();

    let chain_der = der(&issued.chain_pem);
    assert_eq!(chain_der.len(), 2);
    assert_eq!(chain_der[1], der(&inter.cert_pem)[0]);
    let leaf = x509::parse(&chain_der[0]).unwrap();
    let inter_der = der(&inter.cert_pem);
    let inter_cert = x509::parse(&inter_der[0]).unwrap();
    assert_eq!(leaf.issuer().as_raw(), inter_cert.subject().as_raw());
    assert_eq!(der(&issued.trust_bundle_pem), der(&chain));
    assert_eq!(issuer.trust_bundle_pem(), issued.trust_bundle_pem);
}

#[test]
fn key_of_another_ca_is_refused() {
    let a = test_ca::root("a");
    let b = test_ca::root("b");
    let err = Issuer::new(a.cert_pem.as_bytes(), b.key_pem.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::KeyMismatch), "{err:?}");
    let err = Issuer::new(b"nothing", b.key_pem.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::CaCert(_)), "{err:?}");
    let err = Issuer::new(a.cert_pem.as_bytes(), b"nothing").unwrap_err();
    assert!(matches!(err, Error::CaKey(_)), "{err:?}");
}

#[test]
fn non_ascii_tags_are_refused() {
    let issuer = issuer_of(&test_ca::root("ca"));
    let mut id = web();
    id.tags.insert("team".to_owned(), BTreeSet::from(["équipe".to_owned()]));
    let err =
        issuer.issue(test_ca::csr(&PKCS_ECDSA_P256_SHA256).as_bytes(), &id, DAY, NOW).unwrap_err();
    assert!(matches!(err, Error::Tag { .. }), "{err:?}");
}
