use rcgen::KeyUsagePurpose as Ku;
use serde_json::json;

use super::*;
use crate::ca::test_ca;

fn mesh(value: serde_json::Value) -> MeshSpec {
    serde_json::from_value(value).unwrap()
}

fn pairs(err: ValidationError) -> Vec<(String, String)> {
    err.violations.into_iter().map(|v| (v.field, v.message)).collect()
}

fn provided(skip: bool) -> MeshSpec {
    mesh(json!({"mtls": {
        "enabledBackend": "ca-2",
        "skipValidation": skip,
        "backends": [
            {"name": "ca-1", "type": "builtin", "conf": {"caCert": {"expiration": "10x"}}},
            {"name": "ca-2", "type": "provided",
             "conf": {"cert": {"secret": "ca-cert"}, "key": {"secret": "ca-key"}}},
        ],
    }}))
}

#[test]
fn every_backend_is_checked_at_its_path() {
    let none = |_: &str| None;
    let err = validate_mesh_backends("default", &provided(false), &none).unwrap_err();
    let load =
        r#"could not load data: resource not found: type="Secret" name="ca-cert" mesh="default""#;
    assert_eq!(
        pairs(err),
        vec![
            (
                "mtls.backends[0].conf.caCert.expiration".to_owned(),
                "has to be a valid format".to_owned()
            ),
            ("mtls.backends[1].conf.cert".to_owned(), load.to_owned()),
            ("mtls.backends[1].conf.key".to_owned(), load.to_owned()),
        ]
    );
}

#[test]
fn skip_validation_skips_the_provided_checks_but_not_the_builtin_conf_shape() {
    let none = |_: &str| None;
    let err = validate_mesh_backends("default", &provided(true), &none).unwrap_err();
    assert_eq!(
        pairs(err),
        [(
            "mtls.backends[0].conf.caCert.expiration".to_owned(),
            "has to be a valid format".to_owned()
        )]
    );
    let mut spec = provided(true);
    spec.mtls.as_mut().unwrap().backends[0].conf = None;
    assert_eq!(validate_mesh_backends("default", &spec, &none).unwrap(), vec![]);
}

#[test]
fn provided_ca_is_checked_through_its_secrets() {
    let ca = test_ca::self_signed(test_ca::ca_params(
        "Hello",
        true,
        &[Ku::KeyCertSign, Ku::DigitalSignature],
    ));
    let resolve = |name: &str| match name {
        "ca-cert" => Some(ca.cert_pem.clone().into_bytes()),
        "ca-key" => Some(ca.key_pem.clone().into_bytes()),
        _ => None,
    };
    let spec = mesh(json!({"mtls": {"backends": [
        {"name": "ca-1", "type": "builtin"},
        {"name": "ca-2", "type": "provided",
         "conf": {"cert": {"secret": "ca-cert"}, "key": {"secret": "ca-key"}}},
    ]}}));
    let warnings = validate_mesh_backends("default", &spec, &resolve).unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].field, "mtls.backends[1].conf.cert[0]");

    let wrong_key = |name: &str| match name {
        "ca-cert" => Some(ca.cert_pem.clone().into_bytes()),
        _ => Some(test_ca::root("other").key_pem.into_bytes()),
    };
    let err = validate_mesh_backends("default", &spec, &wrong_key).unwrap_err();
    assert_eq!(
        pairs(err),
        vec![(
            "mtls.backends[1].conf.cert".to_owned(),
            "not a valid TLS key pair: tls: private key does not match public key".to_owned()
        )]
    );
}

#[test]
fn mesh_without_mtls_has_nothing_to_check() {
    let none = |_: &str| None;
    assert_eq!(validate_mesh_backends("default", &MeshSpec::default(), &none).unwrap(), vec![]);
    assert!(used_secrets(&MeshSpec::default()).is_empty());
}

#[test]
fn used_secrets_lists_provided_secret_sources() {
    let spec = mesh(json!({"mtls": {"backends": [
        {"name": "ca-1", "type": "builtin"},
        {"name": "ca-2", "type": "provided",
         "conf": {"cert": {"secret": "ca-cert"}, "key": {"inline": "aGk="}}},
        {"name": "ca-3", "type": "provided",
         "conf": {"cert": {"secret": "shared"}, "key": {"secret": "key-3"}}},
    ]}}));
    assert_eq!(
        used_secrets(&spec),
        vec![
            ("ca-2".to_owned(), "ca-cert".to_owned()),
            ("ca-3".to_owned(), "shared".to_owned()),
            ("ca-3".to_owned(), "key-3".to_owned()),
        ]
    );
}

#[test]
fn secret_in_use_message_is_kumas() {
    assert_eq!(
        secret_in_use_message("ca-cert", "default", "ca-2"),
        "The secret \"ca-cert\" that you are trying to remove is currently in use in Mesh \
         \"default\" in mTLS backend \"ca-2\". Please remove the reference from the \"ca-2\" \
         backend before removing the secret."
    );
}

#[test]
fn enabled_backend_cannot_change_while_mtls_is_on() {
    let with = |enabled: &str| {
        mesh(json!({"mtls": {"enabledBackend": enabled, "backends": [
            {"name": "ca-1", "type": "builtin"}, {"name": "ca-2", "type": "builtin"},
        ]}}))
    };
    let err = check_backend_change(&with("ca-1"), &with("ca-2")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mtls.enabledBackend: Changing CA when mTLS is enabled is forbidden. Disable mTLS first \
         and then change the CA"
    );
    check_backend_change(&with("ca-1"), &with("ca-1")).unwrap();
    check_backend_change(&with("ca-1"), &with("")).unwrap();
    check_backend_change(&with(""), &with("ca-2")).unwrap();
    check_backend_change(&MeshSpec::default(), &with("ca-2")).unwrap();
}
