//! Attack catalogue for `kuma_core::tokens`: every way a token can be forged, stretched or misused
//! must fail, each with Kuma's exact error text.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kuma_core::tokens::{
    DataplaneClaims, DataplaneIdentity, Error, Issuer, KeyKind, KeySet, MAX_TOKEN_LEN, SigningKey,
    StaticKey, UserClaims, Validated, Validator, authorize_dataplane,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);
const HOUR: Duration = Duration::from_secs(3600);

fn mesh(name: &str) -> KeyKind {
    KeyKind::Dataplane { mesh: name.into() }
}

fn validator(kind: &KeyKind, keys: &[(u64, &SigningKey)], revoked: &[&str]) -> Validator {
    let mut set = KeySet::signing_keys(kind);
    for (serial, key) in keys {
        let pem = key.to_pem();
        assert!(set.insert_secret(&kind.name(*serial), pem.as_bytes()).unwrap());
    }
    let revoked: HashSet<String> = revoked.iter().map(|s| s.to_string()).collect();
    Validator::new(kind.clone(), set, revoked)
}

fn dp_claims() -> DataplaneClaims {
    DataplaneClaims { name: "web-1".into(), mesh: "default".into(), ..Default::default() }
}

fn issue(key: &SigningKey, kid: &str) -> String {
    Issuer.issue(&dp_claims(), key, kid, HOUR, NOW).unwrap().token
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// An RS256 signature over any header and payload, as an attacker holding `key` would make.
fn forge(header: &Value, payload: &Value, key: &SigningKey) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let encoding = EncodingKey::from_rsa_pem(key.to_pem().as_bytes()).unwrap();
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &encoding, Algorithm::RS256);
    format!("{message}.{}", signature.unwrap())
}

fn payload() -> Value {
    json!({"Name": "web-1", "Mesh": "default", "Tags": {}, "Type": "", "Workload": "",
           "exp": NOW.unix_timestamp() + 3600, "nbf": NOW.unix_timestamp() - 5,
           "iat": NOW.unix_timestamp() - 5, "jti": "forged"})
}

fn rejected(validator: &Validator, token: &str, at: OffsetDateTime) -> Error {
    validator.validate::<DataplaneClaims>(token, at).expect_err("token was accepted")
}

fn segments(token: &str) -> Vec<Value> {
    token
        .split('.')
        .take(2)
        .map(|s| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap())
        .collect()
}

#[test]
fn issued_token_has_kuma_header_and_claims() {
    let key = SigningKey::generate().unwrap();
    let issued = Issuer.issue(&dp_claims(), &key, "1", HOUR, NOW).unwrap();
    let parts = segments(&issued.token);
    assert_eq!(parts[0], json!({"alg": "RS256", "typ": "JWT", "kid": "1"}));
    let now = NOW.unix_timestamp();
    assert_eq!(
        parts[1],
        json!({"Name": "web-1", "Mesh": "default", "Tags": {}, "Type": "", "Workload": "",
               "exp": now + 3600, "nbf": now - 5, "iat": now - 5, "jti": issued.jti})
    );
    let jti = uuid::Uuid::parse_str(&issued.jti).unwrap();
    assert_eq!(jti.get_version_num(), 4);
    assert_eq!(issued.expires, NOW + HOUR);
    assert_eq!(issued.not_before, NOW - Duration::from_secs(5));

    let validated: Validated<DataplaneClaims> =
        validator(&mesh("default"), &[(1, &key)], &[]).validate(&issued.token, NOW).unwrap();
    assert_eq!(validated.claims, dp_claims());
    assert_eq!(validated.kid, "1");
    assert_eq!(validated.jti, issued.jti);
    assert_eq!(validated.expires, Some(issued.expires));
    assert_eq!(validated.not_before, Some(issued.not_before));
    assert_eq!(validated.issued_at, Some(issued.not_before));
}

#[test]
fn alg_none_is_rejected() {
    let key = SigningKey::generate().unwrap();
    let v = validator(&mesh("default"), &[(1, &key)], &[]);
    let token = format!("{}.{}.", b64(&json!({"alg": "none", "kid": "1"})), b64(&payload()));
    let err = rejected(&v, &token, NOW);
    assert_eq!(err.reason(), "unsupported_alg");
    assert_eq!(
        err.to_string(),
        "could not parse token: unsupported token alg none. Allowed algorithms are RS256"
    );
}

#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    let key = SigningKey::generate().unwrap();
    let v = validator(&mesh("default"), &[(1, &key)], &[]);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("1".into());
    for secret in [key.public_key_pem(), key.to_pem()] {
        let hmac = EncodingKey::from_secret(secret.as_bytes());
        let token = jsonwebtoken::encode(&header, &payload(), &hmac).unwrap();
        assert_eq!(
            rejected(&v, &token, NOW).to_string(),
            "could not parse token: unsupported token alg HS256. Allowed algorithms are RS256"
        );
    }
}

#[test]
fn kid_must_be_present_and_a_string() {
    let key = SigningKey::generate().unwrap();
    let v = validator(&mesh("default"), &[(1, &key)], &[]);
    let missing = forge(&json!({"alg": "RS256", "typ": "JWT"}), &payload(), &key);
    let err = rejected(&v, &missing, NOW);
    assert_eq!(err.reason(), "missing_kid");
    assert_eq!(err.to_string(), "could not parse token: JWT token must have kid header");
    let numeric = forge(&json!({"alg": "RS256", "kid": 1}), &payload(), &key);
    let err = rejected(&v, &numeric, NOW);
    assert_eq!(err.reason(), "kid_not_string");
    assert_eq!(err.to_string(), "could not parse token: JWT token kid header must be a string");
}

#[test]
fn unknown_kid_names_the_missing_secret() {
    let key = SigningKey::generate().unwrap();
    let token = issue(&key, "2");
    let err = rejected(&validator(&mesh("default"), &[(1, &key)], &[]), &token, NOW);
    assert_eq!(err.reason(), "unknown_kid");
    assert_eq!(
        err.to_string(),
        "there is no signing key with KID 2. Secret of name \"dataplane-token-signing-key-default-2\" \
         in mesh \"default\" is not found. If signing key was rotated, regenerate the token"
    );
    let user = Issuer.issue(&UserClaims::default(), &key, "3", HOUR, NOW).unwrap();
    let err = validator(&KeyKind::User, &[(1, &key)], &[])
        .validate::<UserClaims>(&user.token, NOW)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "there is no signing key with KID 3. GlobalSecret of name \"user-token-signing-key-3\" \
         is not found. If signing key was rotated, regenerate the token"
    );
}

#[test]
fn expiry_and_not_before_allow_thirty_seconds_of_skew() {
    let key = SigningKey::generate().unwrap();
    let v = validator(&mesh("default"), &[(1, &key)], &[]);
    let token = issue(&key, "1");
    let secs = |n: i64| time::Duration::seconds(n);
    v.validate::<DataplaneClaims>(&token, NOW + HOUR + secs(30)).unwrap();
    let err = rejected(&v, &token, NOW + HOUR + secs(31));
    assert_eq!(err.reason(), "expired");
    assert_eq!(
        err.to_string(),
        "could not parse token: token has invalid claims: token is expired"
    );
    // nbf is NOW - 5 s.
    v.validate::<DataplaneClaims>(&token, NOW - secs(35)).unwrap();
    let err = rejected(&v, &token, NOW - secs(36));
    assert_eq!(err.reason(), "not_yet_valid");
    assert_eq!(
        err.to_string(),
        "token is not yet valid: 'valid_from' date is in the future. Check if the system clock \
         on the instance that issued the token is set correctly: token has invalid claims: \
         token is not valid yet"
    );
}

#[test]
fn tampering_breaks_the_signature() {
    let key = SigningKey::generate().unwrap();
    let v = validator(&mesh("default"), &[(1, &key)], &[]);
    let token = issue(&key, "1");
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = segments(&token)[1].clone();
    claims["Name"] = json!("db-1");
    let tampered_payload = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    let err = rejected(&v, &tampered_payload, NOW);
    assert_eq!(err.reason(), "bad_signature");
    assert_eq!(
        err.to_string(),
        "could not parse token: token signature is invalid: crypto/rsa: verification error"
    );
    let mut signature = parts[2].to_owned();
    let first = if signature.starts_with('A') { "B" } else { "A" };
    signature.replace_range(0..1, first);
    let tampered_signature = format!("{}.{}.{signature}", parts[0], parts[1]);
    assert_eq!(rejected(&v, &tampered_signature, NOW).reason(), "bad_signature");
}

#[test]
fn malformed_and_oversized_tokens_are_rejected_unparsed() {
    let key = SigningKey::generate().unwrap();
    let v = validator(&mesh("default"), &[(1, &key)], &[]);
    for bad in ["", "a.b", "a.b.c.d"] {
        assert_eq!(
            rejected(&v, bad, NOW).to_string(),
            "could not parse token: token is malformed: token contains an invalid number of segments"
        );
    }
    assert_eq!(rejected(&v, "!!.e30.x", NOW).reason(), "malformed");
    let mut big = payload();
    big["Tags"] = json!({"pad": ["x".repeat(MAX_TOKEN_LEN)]});
    let oversized = forge(&json!({"alg": "RS256", "kid": "1"}), &big, &key);
    let err = rejected(&v, &oversized, NOW);
    assert_eq!(err.reason(), "too_large");
    assert_eq!(err.to_string(), "could not parse token: token is too large");
}

#[test]
fn revoked_token_is_rejected() {
    let key = SigningKey::generate().unwrap();
    let issued = Issuer.issue(&dp_claims(), &key, "1", HOUR, NOW).unwrap();
    let v = validator(&mesh("default"), &[(1, &key)], &["other", &issued.jti]);
    let err = rejected(&v, &issued.token, NOW);
    assert_eq!(err.reason(), "revoked");
    assert_eq!(err.to_string(), "token is revoked");
}

#[test]
fn token_from_another_meshs_key_fails_the_signature() {
    let (default_key, other_key) =
        (SigningKey::generate().unwrap(), SigningKey::generate().unwrap());
    let token = issue(&other_key, "1");
    let v = validator(&mesh("default"), &[(1, &default_key)], &[]);
    assert_eq!(rejected(&v, &token, NOW).reason(), "bad_signature");
}

#[test]
fn valid_token_for_another_dataplane_is_not_authorized() {
    let key = SigningKey::generate().unwrap();
    let v = validator(&mesh("default"), &[(1, &key)], &[]);
    let claims = v.validate::<DataplaneClaims>(&issue(&key, "1"), NOW).unwrap().claims;
    let other =
        DataplaneIdentity { name: "db-1".into(), mesh: "default".into(), ..Default::default() };
    assert_eq!(
        authorize_dataplane(&claims, &other).unwrap_err().to_string(),
        "proxy name from requestor: db-1 is different than in token: web-1"
    );
}

#[test]
fn rotation_keeps_old_tokens_until_their_key_is_removed() {
    let kind = mesh("default");
    let (key1, key2) = (SigningKey::generate().unwrap(), SigningKey::generate().unwrap());
    let (pem1, pem2) = (key1.to_pem(), key2.to_pem());
    let secrets = [(kind.name(1), pem1.as_bytes()), (kind.name(2), pem2.as_bytes())];
    let latest =
        kuma_core::tokens::latest_signing_key(&kind, secrets.iter().map(|(n, d)| (n.as_str(), *d)));
    let (serial, signer) = latest.unwrap().unwrap();
    assert_eq!(serial, 2);
    let old = issue(&key1, "1");
    let new = issue(&signer, &serial.to_string());
    let both = validator(&kind, &[(1, &key1), (2, &key2)], &[]);
    both.validate::<DataplaneClaims>(&old, NOW).unwrap();
    both.validate::<DataplaneClaims>(&new, NOW).unwrap();
    let only_new = validator(&kind, &[(2, &key2)], &[]);
    assert_eq!(rejected(&only_new, &old, NOW).reason(), "unknown_kid");
    only_new.validate::<DataplaneClaims>(&new, NOW).unwrap();
}

#[test]
fn static_key_verifies_offline_tokens_before_secrets() {
    let (offline, secret) = (SigningKey::generate().unwrap(), SigningKey::generate().unwrap());
    let kind = mesh("default");
    let mut keys = KeySet::signing_keys(&kind);
    keys.insert(1, secret.public_key().clone());
    keys.insert_static(StaticKey {
        kid: "1".into(),
        mesh: None,
        key: offline.public_key().clone(),
    });
    let v = Validator::new(kind, keys, HashSet::new());
    v.validate::<DataplaneClaims>(&issue(&offline, "1"), NOW).unwrap();
    // The static key shadows the secret with the same kid, as in Kuma.
    assert_eq!(rejected(&v, &issue(&secret, "1"), NOW).reason(), "bad_signature");
}
