use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};

use super::*;

#[test]
fn generated_key_round_trips_as_pkcs1_pem() {
    let key = SigningKey::generate().unwrap();
    let pem = key.to_pem();
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{pem}");
    assert!(!pem.contains('\r'));
    let again = SigningKey::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(again.to_pem(), pem);
    assert_eq!(again.public_key(), key.public_key());
    let public = key.public_key_pem();
    assert!(public.starts_with("-----BEGIN RSA PUBLIC KEY-----\n"), "{public}");
    assert_eq!(&PublicKey::from_pem(public.as_bytes()).unwrap(), key.public_key());
}

#[test]
fn pkcs8_pem_and_legacy_raw_der_are_accepted() {
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = pair.as_der().unwrap();
    let pem = encode_pem(PKCS8_PRIVATE_TAG, pkcs8.as_ref());
    let key = SigningKey::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(key.public_key().pkcs1, pair.public_key().as_ref());

    let raw = pkcs1_from_pkcs8(pkcs8.as_ref()).unwrap();
    let legacy = SigningKey::from_pem(&raw).unwrap();
    assert_eq!(legacy.to_pem(), key.to_pem());
}

#[test]
fn spki_public_key_is_accepted() {
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().unwrap();
    let pem = encode_pem(SPKI_PUBLIC_TAG, spki.as_ref());
    let key = PublicKey::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(key.pkcs1, pair.public_key().as_ref());
    // A secret may hold either half.
    let signing = SigningKey::generate().unwrap();
    let from_private = PublicKey::from_key_material(signing.to_pem().as_bytes()).unwrap();
    assert_eq!(&from_private, signing.public_key());
}

#[test]
fn garbage_and_wrong_blocks_are_invalid_keys() {
    for data in
        [&b"not a key"[..], b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
    {
        let err = SigningKey::from_pem(data).unwrap_err();
        assert_eq!(err.reason(), "invalid_key", "{err}");
        assert!(PublicKey::from_pem(data).is_err());
    }
    let signing = SigningKey::generate().unwrap();
    // A private key is not a public key.
    assert!(PublicKey::from_pem(signing.to_pem().as_bytes()).is_err());
}

#[test]
fn key_names_follow_kuma() {
    let dp = KeyKind::Dataplane { mesh: "default".into() };
    assert_eq!(dp.prefix(), "dataplane-token-signing-key-default");
    assert_eq!(dp.name(1), "dataplane-token-signing-key-default-1");
    assert_eq!(dp.name(0), "dataplane-token-signing-key-default");
    assert_eq!(dp.revocations_name(), "dataplane-token-revocations-default");
    assert_eq!(KeyKind::Zone.name(3), "zone-token-signing-key-3");
    assert_eq!(KeyKind::Zone.revocations_name(), "zone-token-revocations");
    assert_eq!(KeyKind::User.name(1), "user-token-signing-key-1");
    assert_eq!(KeyKind::User.revocations_name(), "user-token-revocations");
    assert_eq!(zone_public_key_name(2), "zone-token-signing-public-key-2");
    assert_eq!(parse_zone_public_key_serial("zone-token-signing-public-key-2"), Some(2));
}

#[test]
fn serials_parse_like_atoi() {
    let kind = KeyKind::User;
    assert_eq!(kind.parse_serial("user-token-signing-key"), Some(0));
    assert_eq!(kind.parse_serial("user-token-signing-key-12"), Some(12));
    assert_eq!(kind.parse_serial("user-token-signing-key-0002"), Some(2));
    for bad in [
        "user-token-signing-key-",
        "user-token-signing-key-x",
        "user-token-signing-key--1",
        "user-token-signing-key-+1",
        "user-token-signing-key1",
        "zone-token-signing-key-1",
        "user-token-revocations",
    ] {
        assert_eq!(kind.parse_serial(bad), None, "{bad}");
    }
}

#[test]
fn latest_signing_key_has_the_highest_serial() {
    let kind = KeyKind::Zone;
    let (k1, k10, k2) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );
    let (p1, p10, p2) = (k1.to_pem(), k10.to_pem(), k2.to_pem());
    let secrets = [
        ("zone-token-signing-key-1", p1.as_bytes()),
        ("zone-token-signing-key-10", p10.as_bytes()),
        ("zone-token-signing-key-2", p2.as_bytes()),
        ("zone-token-revocations", b"not a key".as_slice()),
    ];
    let (serial, key) = latest_signing_key(&kind, secrets).unwrap().unwrap();
    assert_eq!(serial, 10);
    assert_eq!(key.public_key(), k10.public_key());
    assert!(latest_signing_key(&KeyKind::User, secrets).unwrap().is_none());
}
