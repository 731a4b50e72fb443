use std::net::IpAddr;

use secrecy::ExposeSecret;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;

fn now() -> OffsetDateTime {
    time::macros::datetime!(2025-06-01 12:00 UTC)
}

fn ders(pair: &CertPair) -> Vec<Vec<u8>> {
    pair.chain().unwrap().iter().map(|c| c.to_vec()).collect()
}

fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
    let ext = cert.subject_alternative_name().unwrap().unwrap();
    ext.value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(b) => match b.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()).to_string(),
                _ => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()).to_string(),
            },
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn cp_cert_is_a_leaf_signed_by_a_small_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (pair, provenance) = load_or_generate_cp_cert(dir.path(), now()).unwrap();
    assert_eq!(provenance, Provenance::Generated);
    let ders = ders(&pair);
    assert_eq!(ders.len(), 2, "leaf then CA");
    let (_, leaf) = X509Certificate::from_der(&ders[0]).unwrap();
    let (_, ca) = X509Certificate::from_der(&ders[1]).unwrap();

    assert!(!leaf.is_ca());
    assert!(leaf.basic_constraints().unwrap().is_some_and(|bc| !bc.value.ca));
    let ku = leaf.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && !ku.key_cert_sign());
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    assert_eq!(leaf.issuer(), ca.subject());
    assert!(ca.is_ca());
    assert!(ca.key_usage().unwrap().unwrap().value.key_cert_sign());
    assert_eq!(ca.subject().to_string(), "CN=kuma-cp CA");

    let sans = sans(&leaf);
    let mut sorted = sans.clone();
    sorted.sort();
    assert_eq!(sans, sorted, "SANs are sorted");
    for want in ["localhost", "127.0.0.1"] {
        assert!(sans.iter().any(|s| s == want), "{want} in {sans:?}");
    }
    let host = hostname::get().unwrap().to_string_lossy().into_owned();
    assert!(sans.contains(&host), "{host} in {sans:?}");

    let validity = leaf.validity();
    assert_eq!(validity.not_before.to_datetime(), now() - Duration::minutes(5));
    assert_eq!(validity.not_after.to_datetime(), now() - Duration::minutes(5) + VALIDITY);
}

#[test]
fn cp_cert_is_reused_on_the_second_call() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = load_or_generate_cp_cert(dir.path(), now()).unwrap();
    let (second, provenance) = load_or_generate_cp_cert(dir.path(), now()).unwrap();
    assert_eq!(provenance, Provenance::Loaded);
    assert_eq!(first.cert_pem, second.cert_pem);
    assert_eq!(first.key_pem.expose_secret(), second.key_pem.expose_secret());
    assert_eq!(fs::read_to_string(dir.path().join(CP_CERT_FILE)).unwrap(), first.cert_pem);
}

#[test]
fn empty_cp_files_are_regenerated() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(CP_CERT_FILE), "").unwrap();
    fs::write(dir.path().join(CP_KEY_FILE), "").unwrap();
    let (pair, provenance) = load_or_generate_cp_cert(dir.path(), now()).unwrap();
    assert_eq!(provenance, Provenance::Generated);
    assert_eq!(fs::read_to_string(dir.path().join(CP_CERT_FILE)).unwrap(), pair.cert_pem);
}

#[test]
fn cp_files_are_private_and_the_new_work_dir_too() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("a/kuma");
    load_or_generate_cp_cert(&work, now()).unwrap();
    assert_eq!(mode(&work), 0o700);
    assert_eq!(mode(&work.join(CP_CERT_FILE)), 0o600);
    assert_eq!(mode(&work.join(CP_KEY_FILE)), 0o600);
}

#[test]
fn cp_cert_with_a_foreign_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    load_or_generate_cp_cert(dir.path(), now()).unwrap();
    let other =
        generate_certificate(CertKind::Server, &["x".into()], KeyType::Ecdsa, now()).unwrap();
    fs::write(dir.path().join(CP_KEY_FILE), other.key_pem.expose_secret()).unwrap();
    let err = load_or_generate_cp_cert(dir.path(), now()).unwrap_err();
    assert!(matches!(err, Error::KeyMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains(CP_KEY_FILE), "{err}");
}

#[test]
fn client_certificate_has_client_auth_and_ip_sans() {
    let hosts = ["example.com".to_owned(), "10.1.2.3".to_owned()];
    let pair = generate_certificate(CertKind::Client, &hosts, KeyType::Ecdsa, now()).unwrap();
    let ders = ders(&pair);
    let (_, leaf) = X509Certificate::from_der(&ders[0]).unwrap();
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert_eq!(sans(&leaf), hosts);
    assert!(pair.key_pem.expose_secret().contains("BEGIN PRIVATE KEY"));
}

#[test]
fn rsa_server_certificate_uses_an_rsa_2048_key() {
    let pair = generate_certificate(CertKind::Server, &["a".into()], KeyType::Rsa, now()).unwrap();
    let ders = ders(&pair);
    let (_, leaf) = X509Certificate::from_der(&ders[0]).unwrap();
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
    match leaf.public_key().parsed().unwrap() {
        x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
        other => panic!("not RSA: {other:?}"),
    }
    pair.certified_key().unwrap();
}

#[test]
fn no_hostname_is_kumas_error() {
    let err = generate_certificate(CertKind::Server, &[], KeyType::Ecdsa, now()).unwrap_err();
    assert_eq!(err.to_string(), "at least one hostname must be given");
}
