use secrecy::ExposeSecret;
use serde_json::json;
use time::macros::datetime;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;

use super::*;
use crate::ca::Issuer;
use crate::resources::Violation;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

fn conf(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn violations(err: ValidationError) -> Vec<(String, String)> {
    err.violations.into_iter().map(|Violation { field, message }| (field, message)).collect()
}

fn der_of(pem: &str) -> Vec<u8> {
    crate::tls::decode_certificates(pem.as_bytes()).unwrap()[0].to_vec()
}

#[test]
fn default_root_is_an_ecdsa_kuma_mesh_ca() {
    let pair = generate_builtin_root("default", &BuiltinConf::default(), NOW).unwrap();
    let der = der_of(&pair.cert_pem);
    let cert = x509::parse(&der).unwrap();

    assert_eq!(cert.subject().to_string(), "O=Kuma, OU=Mesh, CN=default");
    assert_eq!(cert.subject().as_raw(), cert.issuer().as_raw());
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert_eq!(san.value.general_names, vec![GeneralName::URI("spiffe://default")]);
    assert!(cert.basic_constraints().unwrap().unwrap().value.ca);
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    assert!(!ku.digital_signature() && !ku.key_encipherment() && !ku.key_agreement());
    assert_eq!(cert.validity().not_before.to_datetime(), NOW - BACKDATE);
    assert_eq!(cert.validity().not_after.to_datetime(), NOW + time::Duration::days(3650));
    assert!(cert.serial.bits() > 64, "serial {}", cert.serial);
    assert!(matches!(cert.public_key().parsed(), Ok(PublicKey::EC(_))));
    assert!(pair.key_pem.expose_secret().starts_with("-----BEGIN PRIVATE KEY-----"));
    Issuer::new(pair.cert_pem.as_bytes(), pair.key_pem.expose_secret().as_bytes()).unwrap();
}

#[test]
fn rsa_bits_give_an_rsa_root_with_a_pkcs1_key() {
    let conf = BuiltinConf { rsa_bits: Some(2048), expiration: None };
    let pair = generate_builtin_root("payments", &conf, NOW).unwrap();
    let der = der_of(&pair.cert_pem);
    let cert = x509::parse(&der).unwrap();
    let Ok(PublicKey::RSA(rsa)) = cert.public_key().parsed() else { panic!("not RSA") };
    assert_eq!(rsa.key_size(), 2048);
    assert!(pair.key_pem.expose_secret().starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    assert!(format!("{pair:?}").contains("[redacted]"));
    // The PKCS#1 key loads back and signs for this root.
    Issuer::new(pair.cert_pem.as_bytes(), pair.key_pem.expose_secret().as_bytes()).unwrap();
}

#[test]
fn unsupported_rsa_bits_are_refused() {
    let conf = BuiltinConf { rsa_bits: Some(1024), expiration: None };
    let err = generate_builtin_root("default", &conf, NOW).unwrap_err();
    assert!(matches!(err, Error::RsaBits(1024)), "{err:?}");
}

#[test]
fn expiration_sets_not_after() {
    let conf = BuiltinConf { rsa_bits: None, expiration: Some(KumaDuration::parse("1y").unwrap()) };
    let pair = generate_builtin_root("default", &conf, NOW).unwrap();
    let der = der_of(&pair.cert_pem);
    let cert = x509::parse(&der).unwrap();
    assert_eq!(cert.validity().not_after.to_datetime(), NOW + time::Duration::days(365));
}

#[test]
fn conf_is_read_with_kuma_field_names() {
    let parsed = BuiltinConf::parse(
        Some(&conf(json!({"caCert": {"RSAbits": 3072, "expiration": "5y"}}))),
        "mtls.backends[0].conf",
    )
    .unwrap();
    assert_eq!(parsed.rsa_bits, Some(3072));
    assert_eq!(parsed.expiration.unwrap().to_string(), "5y");

    let zero = BuiltinConf::parse(Some(&conf(json!({"caCert": {"RSAbits": 0}}))), "c").unwrap();
    assert_eq!(zero, BuiltinConf::default());
    assert_eq!(BuiltinConf::parse(None, "c").unwrap(), BuiltinConf::default());
}

#[test]
fn bad_conf_is_reported_at_its_path() {
    let at = "mtls.backends[1].conf";
    let err = BuiltinConf::parse(
        Some(&conf(json!({"caCert": {"RSAbits": 1000, "expiration": "1x"}}))),
        at,
    )
    .unwrap_err();
    assert_eq!(
        violations(err),
        vec![
            (
                "mtls.backends[1].conf.caCert.RSAbits".to_owned(),
                "must be one of 2048, 3072 or 4096".to_owned()
            ),
            (
                "mtls.backends[1].conf.caCert.expiration".to_owned(),
                "has to be a valid format".to_owned()
            ),
        ]
    );

    let err = BuiltinConf::parse(Some(&conf(json!({"caCrt": {}}))), at).unwrap_err();
    let v = violations(err);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].0, format!("{at}.caCrt"));
    assert!(
        v[0].1.starts_with("could not convert backend config: unknown field `caCrt`"),
        "{}",
        v[0].1
    );
}

#[test]
fn secret_names_follow_kuma() {
    assert_eq!(builtin_cert_secret_name("default", "ca-1"), "default.ca-builtin-cert-ca-1");
    assert_eq!(builtin_key_secret_name("default", "ca-1"), "default.ca-builtin-key-ca-1");
}

#[test]
fn a_ca_cert_given_as_an_array_is_refused_at_its_path() {
    let at = "mtls.backends[0].conf";
    let err = BuiltinConf::parse(Some(&conf(json!({"caCert": [4096, "1h"]}))), at).unwrap_err();
    assert_eq!(
        violations(err),
        [(
            format!("{at}.caCert"),
            "could not convert backend config: invalid type: sequence, expected an object"
                .to_owned()
        )]
    );
}
