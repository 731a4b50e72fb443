use rcgen::KeyUsagePurpose as Ku;
use serde_json::json;

use super::*;
use crate::ca::test_ca::{self, TestCa};

const AT: &str = "mtls.backends[0].conf";

fn conf(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn pairs(err: ValidationError) -> Vec<(String, String)> {
    err.violations.into_iter().map(|v| (v.field, v.message)).collect()
}

fn one(field: &str, message: &str) -> Vec<(String, String)> {
    vec![(field.to_owned(), message.to_owned())]
}

fn parse_err(value: Value) -> Vec<(String, String)> {
    pairs(ProvidedConf::parse(Some(&conf(value)), AT).unwrap_err())
}

fn check(ca: &TestCa) -> Result<Vec<Violation>, ValidationError> {
    validate_provided(AT, ca.cert_pem.as_bytes(), ca.key_pem.as_bytes())
}

fn with_usages(usages: &[Ku]) -> TestCa {
    test_ca::self_signed(test_ca::ca_params("Hello", true, usages))
}

#[test]
fn every_source_kind_is_read() {
    let parsed = ProvidedConf::parse(
        Some(&conf(json!({
            "cert": {"inline": "aGVsbG8="},
            "key": {"secret": "my-key"},
        }))),
        AT,
    )
    .unwrap();
    assert_eq!(parsed.cert, DataSource::Inline(b"hello".to_vec()));
    assert_eq!(parsed.key, DataSource::Secret("my-key".to_owned()));

    let parsed = ProvidedConf::parse(
        Some(&conf(json!({
            "cert": {"file": "/etc/ca.pem"},
            "key": {"inlineString": "KEY", "secret": null},
        }))),
        AT,
    )
    .unwrap();
    assert_eq!(parsed.cert, DataSource::File("/etc/ca.pem".into()));
    assert_eq!(parsed.key, DataSource::InlineString("KEY".to_owned()));
    assert_eq!(format!("{:?}", parsed.key), "InlineString([redacted])");
}

#[test]
fn missing_sources_have_to_be_defined() {
    assert_eq!(
        pairs(ProvidedConf::parse(None, AT).unwrap_err()),
        vec![
            (format!("{AT}.cert"), "has to be defined".to_owned()),
            (format!("{AT}.key"), "has to be defined".to_owned()),
        ]
    );
    assert_eq!(
        parse_err(json!({"cert": {"secret": "c"}, "key": null})),
        one(&format!("{AT}.key"), "has to be defined")
    );
}

#[test]
fn a_source_has_to_be_chosen() {
    let choose = "data source has to be chosen. Available sources: secret, file, inline";
    assert_eq!(
        parse_err(json!({"cert": {}, "key": {"secret": "k"}})),
        one(&format!("{AT}.cert"), choose)
    );
    // YAML `secret:` with nothing after it is null: no source at all.
    assert_eq!(
        parse_err(json!({"cert": {"secret": "c"}, "key": {"secret": null}})),
        one(&format!("{AT}.key"), choose)
    );
}

#[test]
fn empty_sources_cannot_be_empty() {
    assert_eq!(
        parse_err(json!({"cert": {"secret": ""}, "key": {"inline": ""}})),
        vec![
            (format!("{AT}.cert.secret"), "cannot be empty".to_owned()),
            (format!("{AT}.key.inline"), "cannot be empty".to_owned()),
        ]
    );
    assert_eq!(
        parse_err(json!({"cert": {"file": ""}, "key": {"secret": "k"}})),
        one(&format!("{AT}.cert.file"), "cannot be empty")
    );
    // Kuma does not check inlineString.
    ProvidedConf::parse(
        Some(&conf(json!({"cert": {"inlineString": ""}, "key": {"secret": "k"}}))),
        AT,
    )
    .unwrap();
}

#[test]
fn unreadable_conf_cannot_be_converted() {
    for bad in [
        json!({"cert": {"secret": "a", "inline": "aGk="}, "key": {"secret": "k"}}),
        json!({"cert": {"inline": "not base64!"}, "key": {"secret": "k"}}),
        json!({"cert": {"secrets": "a"}, "key": {"secret": "k"}}),
        json!({"cert": "a", "key": {"secret": "k"}}),
        json!({"certificate": {"secret": "a"}}),
    ] {
        let v = parse_err(bad.clone());
        assert_eq!(v.len(), 1, "{bad}: {v:?}");
        assert_eq!(v[0].0, AT, "{bad}");
        assert!(v[0].1.starts_with("could not convert backend config: "), "{bad}: {}", v[0].1);
    }
}

#[test]
fn sources_load_their_bytes() {
    let resolve = |name: &str| (name == "ca").then(|| b"PEM".to_vec());
    let secret = DataSource::Secret("ca".to_owned());
    assert_eq!(secret.load("default", &resolve).unwrap(), b"PEM");
    assert_eq!(secret.secret(), Some("ca"));

    let err = DataSource::Secret("nope".to_owned()).load("default", &resolve).unwrap_err();
    assert_eq!(err.to_string(), r#"resource not found: type="Secret" name="nope" mesh="default""#);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, b"FILE").unwrap();
    let file = DataSource::File(path.clone());
    assert_eq!(file.load("default", &resolve).unwrap(), b"FILE");
    let missing = DataSource::File(dir.path().join("missing.pem"));
    assert!(matches!(missing.load("default", &resolve), Err(Error::ReadFile { .. })));
    assert_eq!(DataSource::InlineString("S".to_owned()).load("default", &resolve).unwrap(), b"S");
}

#[test]
fn compliant_ca_passes_without_warnings() {
    assert_eq!(check(&with_usages(&[Ku::KeyCertSign])).unwrap(), vec![]);
    assert_eq!(check(&test_ca::root("Hello")).unwrap(), vec![]);
}

#[test]
fn ca_flag_must_be_set() {
    let ca = test_ca::self_signed(test_ca::ca_params("Hello", false, &[Ku::KeyCertSign]));
    assert_eq!(
        pairs(check(&ca).unwrap_err()),
        one(
            &format!("{AT}.cert[0]"),
            "basic constraint 'CA' must be set to 'true' (see X509-SVID: 4.1. Basic Constraints)"
        )
    );
}

#[test]
fn key_cert_sign_must_be_set() {
    assert_eq!(
        pairs(check(&with_usages(&[Ku::CrlSign])).unwrap_err()),
        one(
            &format!("{AT}.cert[0]"),
            "key usage extension 'keyCertSign' must be set (see X509-SVID: 4.3. Key Usage)"
        )
    );
}

#[test]
fn key_agreement_must_not_be_set() {
    assert_eq!(
        pairs(check(&with_usages(&[Ku::KeyCertSign, Ku::KeyAgreement])).unwrap_err()),
        one(
            &format!("{AT}.cert[0]"),
            "key usage extension 'keyAgreement' must NOT be set (see X509-SVID: Appendix A. \
             X.509 Field Reference)"
        )
    );
}

#[test]
fn digital_signature_and_key_encipherment_only_warn() {
    let ca = with_usages(&[Ku::KeyCertSign, Ku::DigitalSignature, Ku::KeyEncipherment]);
    let warnings = check(&ca).unwrap();
    let fields: Vec<_> = warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, [format!("{AT}.cert[0]"), format!("{AT}.cert[0]")]);
    assert!(warnings[0].message.contains("'digitalSignature' should NOT be set"));
    assert!(warnings[1].message.contains("'keyEncipherment' should NOT be set"));
}

#[test]
fn key_of_another_ca_is_not_a_pair() {
    let a = test_ca::root("a");
    let b = test_ca::root("b");
    let err = validate_provided(AT, a.cert_pem.as_bytes(), b.key_pem.as_bytes()).unwrap_err();
    assert_eq!(
        pairs(err),
        one(
            &format!("{AT}.cert"),
            "not a valid TLS key pair: tls: private key does not match public key"
        )
    );
}

#[test]
fn garbage_is_not_a_pair() {
    let ca = test_ca::root("a");
    let err = validate_provided(AT, b"garbage", ca.key_pem.as_bytes()).unwrap_err();
    assert_eq!(
        pairs(err),
        one(
            &format!("{AT}.cert"),
            "not a valid TLS key pair: tls: failed to find any PEM data in certificate input"
        )
    );
    let err = validate_provided(AT, ca.cert_pem.as_bytes(), b"garbage").unwrap_err();
    assert_eq!(
        pairs(err),
        one(
            &format!("{AT}.cert"),
            "not a valid TLS key pair: tls: failed to find any PEM data in key input"
        )
    );
}

#[test]
fn every_certificate_of_the_chain_is_checked() {
    let root = with_usages(&[Ku::KeyCertSign, Ku::KeyAgreement]);
    let inter = test_ca::intermediate("inter", &root);
    let chain = format!("{}{}", inter.cert_pem, root.cert_pem);
    let err = validate_provided(AT, chain.as_bytes(), inter.key_pem.as_bytes()).unwrap_err();
    let v = pairs(err);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].0, format!("{AT}.cert[1]"));

    let good_root = test_ca::root("root");
    let inter = test_ca::intermediate("inter", &good_root);
    let chain = format!("{}{}", inter.cert_pem, good_root.cert_pem);
    assert_eq!(validate_provided(AT, chain.as_bytes(), inter.key_pem.as_bytes()).unwrap(), vec![]);
}

#[test]
fn a_chain_member_that_is_not_x509_is_reported() {
    let ca = test_ca::root("a");
    let junk = crate::tls::encode("CERTIFICATE", b"\x30\x03\x02\x01\x01");
    let chain = format!("{}{junk}", ca.cert_pem);
    let v = pairs(validate_provided(AT, chain.as_bytes(), ca.key_pem.as_bytes()).unwrap_err());
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].0, format!("{AT}.cert[1]"));
    assert!(v[0].1.starts_with("not a valid x509 certificate: "), "{}", v[0].1);
}
