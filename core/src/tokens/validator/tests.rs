use super::*;
use crate::tokens::SigningKey;

#[test]
fn revocations_are_comma_separated_with_one_newline_trimmed() {
    let ids = parse_revocations(b"a,b,,c\n");
    assert_eq!(ids, HashSet::from(["a", "b", "c"].map(String::from)));
    assert!(parse_revocations(b"").is_empty());
    assert!(parse_revocations(b"\n").is_empty());
    // Only one newline goes, as in Kuma; the second stays part of the last id.
    assert_eq!(parse_revocations(b"a\n\n"), HashSet::from(["a\n".to_owned()]));
}

#[test]
fn static_keys_win_and_respect_their_mesh() {
    let (secret, fixed, other) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );
    let kind = KeyKind::Dataplane { mesh: "m1".into() };
    let mut keys = KeySet::signing_keys(&kind);
    assert!(keys.is_empty());
    let pem = secret.to_pem();
    assert!(keys.insert_secret("dataplane-token-signing-key-m1-1", pem.as_bytes()).unwrap());
    assert!(!keys.insert_secret("dataplane-token-signing-key-m2-1", pem.as_bytes()).unwrap());
    keys.insert_static(StaticKey {
        kid: "1".into(),
        mesh: Some("m1".into()),
        key: fixed.public_key().clone(),
    });
    keys.insert_static(StaticKey {
        kid: "7".into(),
        mesh: Some("m2".into()),
        key: other.public_key().clone(),
    });
    assert_eq!(keys.find("1", Some("m1")), Some(fixed.public_key()));
    assert_eq!(keys.find("01", Some("m1")), Some(secret.public_key()));
    assert_eq!(keys.find("7", Some("m1")), None);
    assert_eq!(keys.missing_key_name("7"), "dataplane-token-signing-key-m1-7");
    assert_eq!(keys.missing_key_name("0"), "dataplane-token-signing-key-m1");
}
