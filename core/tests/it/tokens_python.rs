//! Cross-checks `kuma_core::tokens` against an independent JWT implementation (PyJWT with
//! `cryptography`): PyJWT verifies a token we issued, and we verify a token PyJWT signed with
//! our generated key.
//!
//! Needs `python3` with `jwt` importable (`apt-get install python3-jwt`, or
//! `pip install pyjwt cryptography`). `KUMA_TEST_PYTHON` names another interpreter, or `skip`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kuma_core::tokens::{DataplaneClaims, Issuer, KeyKind, KeySet, SigningKey, Validator};
use serde_json::{Value, json};
use time::OffsetDateTime;

const PYTHON_VAR: &str = "KUMA_TEST_PYTHON";

/// The interpreter to use, or `None` when the tests are skipped on purpose.
fn python() -> Option<String> {
    let candidates = match std::env::var(PYTHON_VAR) {
        Ok(value) if value == "skip" => {
            eprintln!("{PYTHON_VAR}=skip: skipping the PyJWT cross-checks");
            return None;
        }
        Ok(value) => vec![value],
        // pyenv's python3 may shadow the system one that has python3-jwt.
        Err(_) => vec!["python3".to_owned(), "/usr/bin/python3".to_owned()],
    };
    let found = candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import jwt, cryptography"])
            .output()
            .is_ok_and(|out| out.status.success())
    });
    match found {
        Some(python) => Some(python),
        None => panic!(
            "no python3 with PyJWT: install python3-jwt (apt-get install python3-jwt, or pip \
             install pyjwt cryptography), or set {PYTHON_VAR}=skip"
        ),
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py").join(name)
}

fn run(python: &str, args: &[&str]) -> String {
    let out = Command::new(python).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn pyjwt_verifies_a_token_we_issued() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let key_file = dir.path().join("public.pem");
    std::fs::write(&key_file, key.public_key_pem()).unwrap();
    let claims = DataplaneClaims {
        name: "web-1".into(),
        mesh: "default".into(),
        tags: BTreeMap::from([("kuma.io/service".into(), vec!["web".into(), "api".into()])]),
        proxy_type: "dataplane".into(),
        workload: "web".into(),
    };
    let now = OffsetDateTime::now_utc();
    let issued = Issuer.issue(&claims, &key, "7", Duration::from_secs(3600), now).unwrap();
    let out = run(
        &python,
        &[script("verify_jwt.py").to_str().unwrap(), key_file.to_str().unwrap(), &issued.token],
    );
    let printed: Value = serde_json::from_str(&out).unwrap();
    let nbf = issued.not_before.unix_timestamp();
    assert_eq!(
        printed,
        json!({
            "header": {"alg": "RS256", "typ": "JWT", "kid": "7"},
            "claims": {"Name": "web-1", "Mesh": "default",
                       "Tags": {"kuma.io/service": ["web", "api"]}, "Type": "dataplane",
                       "Workload": "web", "exp": issued.expires.unix_timestamp(), "nbf": nbf,
                       "iat": nbf, "jti": issued.jti},
        })
    );
}

#[test]
fn we_verify_a_token_pyjwt_signed_with_our_key() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let key_file = dir.path().join("private.pem");
    std::fs::write(&key_file, key.to_pem()).unwrap();
    let now = OffsetDateTime::now_utc();
    let t = now.unix_timestamp();
    // Lowercase claim names, as an external issuer may write them.
    let claims = json!({"name": "web-1", "mesh": "default", "tags": {"team": ["a"]},
                        "exp": t + 600, "nbf": t, "iat": t, "jti": "py-1"});
    let token = run(
        &python,
        &[
            script("sign_jwt.py").to_str().unwrap(),
            key_file.to_str().unwrap(),
            "1",
            &claims.to_string(),
        ],
    );
    let kind = KeyKind::Dataplane { mesh: "default".into() };
    let mut keys = KeySet::signing_keys(&kind);
    keys.insert(1, key.public_key().clone());
    let validated = Validator::new(kind.clone(), keys, HashSet::new())
        .validate::<DataplaneClaims>(&token, now)
        .unwrap();
    assert_eq!(validated.claims.name, "web-1");
    assert_eq!(validated.claims.tags["team"], ["a"]);
    assert_eq!(validated.jti, "py-1");

    // The same token is refused once its jti is revoked.
    let mut keys = KeySet::signing_keys(&kind);
    keys.insert(1, key.public_key().clone());
    let revoked = Validator::new(kind, keys, HashSet::from(["py-1".to_owned()]));
    let err = revoked.validate::<DataplaneClaims>(&token, now).unwrap_err();
    assert_eq!(err.reason(), "revoked");
}
