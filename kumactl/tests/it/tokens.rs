//! The binary's signing keys and offline tokens: what it prints parses, and tokens validate with
//! `kuma_core::tokens::Validator` given only the printed public key; every flag error is Kuma's.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kuma_core::tokens::{
    DataplaneClaims, KeyKind, KeySet, PublicKey, SigningKey, StaticKey, UserClaims, Validated,
    Validator, ZoneClaims,
};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::helpers::{kumactl, stderr, stdout};

/// Writes a fresh `--format pem` signing key to `dir/key.pem` and returns its path and the public
/// key `generate public-key` prints for it.
async fn key_pair(dir: &Path) -> (PathBuf, PublicKey) {
    let out = kumactl(dir, &["generate", "signing-key", "--format", "pem"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let path = dir.join("key.pem");
    std::fs::write(&path, &out.stdout).unwrap();

    let args = ["generate", "public-key", "--signing-key-path", path.to_str().unwrap()];
    let out = kumactl(dir, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("-----BEGIN RSA PUBLIC KEY-----\n"), "{text}");
    (path, PublicKey::from_pem(text.as_bytes()).unwrap())
}

/// Runs `generate <cmd> <args> --signing-key-path key --kid kid` and returns the token line.
async fn offline(dir: &Path, key: &Path, cmd: &str, args: &[&str]) -> String {
    let signing = ["--signing-key-path", key.to_str().unwrap(), "--kid", "kid-1"];
    let out = kumactl(dir, &[&["generate", cmd][..], args, &signing].concat()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let token = text.strip_suffix('\n').expect("a trailing newline");
    assert!(!token.contains('\n'));
    token.to_owned()
}

/// Validates as the CP does with a static key from its config (`validator.publicKeys`).
fn validate<C: DeserializeOwned>(kind: KeyKind, key: &PublicKey, token: &str) -> Validated<C> {
    let mut keys = KeySet::signing_keys(&kind);
    keys.insert_static(StaticKey { kid: "kid-1".to_owned(), mesh: None, key: key.clone() });
    Validator::new(kind, keys, HashSet::new()).validate(token, OffsetDateTime::now_utc()).unwrap()
}

#[tokio::test]
async fn signing_key_defaults_to_base64_of_a_pkcs1_pem() {
    let dir = tempfile::tempdir().unwrap();
    let out = kumactl(dir.path(), &["generate", "signing-key"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let pem = STANDARD.decode(stdout(&out).trim_end()).unwrap();
    assert!(pem.starts_with(b"-----BEGIN RSA PRIVATE KEY-----\n"));
    SigningKey::from_pem(&pem).unwrap();

    let out = kumactl(dir.path(), &["generate", "signing-key", "--format", "der"]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("invalid value 'der' for '--format"), "{}", stderr(&out));
}

#[tokio::test]
async fn offline_dataplane_token_validates_with_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = key_pair(dir.path()).await;
    let args = [
        "--name",
        "web-1",
        "-m",
        "demo",
        "--proxy-type",
        "dataplane",
        "--tag",
        "kuma.io/service=web,web-api",
        "--workload",
        "web",
        "--valid-for",
        "24h",
    ];
    let token = offline(dir.path(), &key, "dataplane-token", &args).await;
    let kind = KeyKind::Dataplane { mesh: "demo".to_owned() };
    let got: Validated<DataplaneClaims> = validate(kind, &public, &token);
    assert_eq!(got.kid, "kid-1");
    let claims = got.claims;
    assert_eq!((claims.name.as_str(), claims.mesh.as_str()), ("web-1", "demo"));
    assert_eq!(claims.tags["kuma.io/service"], ["web", "web-api"]);
    assert_eq!(claims.proxy_type, "dataplane");
    assert_eq!(claims.workload, "web");
    let lifetime = got.expires.unwrap() - got.not_before.unwrap();
    assert_eq!(lifetime, time::Duration::hours(24) + time::Duration::seconds(5));
}

#[tokio::test]
async fn offline_zone_and_user_tokens_validate_with_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = key_pair(dir.path()).await;

    let args = ["--zone", "zone-1", "--scope", "cp", "--valid-for", "1h"];
    let token = offline(dir.path(), &key, "zone-token", &args).await;
    let zone: Validated<ZoneClaims> = validate(KeyKind::Zone, &public, &token);
    assert_eq!(zone.claims.zone, "zone-1");
    assert_eq!(zone.claims.scope, ["cp"]);

    let args = ["--zone", "zone-1", "--valid-for", "1h"];
    let token = offline(dir.path(), &key, "zone-token", &args).await;
    let zone: Validated<ZoneClaims> = validate(KeyKind::Zone, &public, &token);
    assert_eq!(zone.claims.scope, ["ingress", "egress"], "Kuma's default");

    let args = [
        "--name",
        "john.doe@example.com",
        "--group",
        "users,mesh-system:admin",
        "--valid-for",
        "30m",
    ];
    let token = offline(dir.path(), &key, "user-token", &args).await;
    let user: Validated<UserClaims> = validate(KeyKind::User, &public, &token);
    assert_eq!(user.claims.name, "john.doe@example.com");
    assert_eq!(user.claims.groups, ["users", "mesh-system:admin"]);

    // Another key's public half does not verify it.
    let other = SigningKey::generate().unwrap();
    let mut keys = KeySet::signing_keys(&KeyKind::User);
    keys.insert_static(StaticKey {
        kid: "kid-1".to_owned(),
        mesh: None,
        key: other.public_key().clone(),
    });
    let validator = Validator::new(KeyKind::User, keys, HashSet::new());
    let result = validator.validate::<UserClaims>(&token, OffsetDateTime::now_utc());
    assert!(result.is_err());
}

#[tokio::test]
async fn public_key_refuses_what_is_not_a_pem_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = key_pair(dir.path()).await;
    let path = dir.path().join("public.pem");
    std::fs::write(&path, public.to_pem()).unwrap();
    let args = ["generate", "public-key", "--signing-key-path", path.to_str().unwrap()];
    let out = kumactl(dir.path(), &args).await;
    assert!(!out.status.success());
    assert_eq!(stderr(&out), "Error: provided file is not a PEM-encoded signing key\n");
}

#[tokio::test]
async fn token_flag_errors_are_kumas() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = key_pair(dir.path()).await;
    let key = key.to_str().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["dataplane-token", "--valid-for", "1h", "--signing-key-path", key],
            "--kid is required when --signing-key-path is used",
        ),
        (
            &["user-token", "--name", "u", "--valid-for", "1h", "--kid", "1"],
            "--kid cannot be used when --signing-key-path is used",
        ),
        (
            &["zone-token", "--zone", "z", "--signing-key-path", key, "--kid", "1"],
            "You must set a token validFor value",
        ),
        (&["dataplane-token", "--valid-for", "0s"], "You must set a token validFor value"),
        (&["user-token", "--name", "u"], "You must set a token validFor value"),
        (
            &["zone-token", "--zone", "z", "--scope", "ingress,mesh", "--valid-for", "1h"],
            "invalid --scope values: [mesh] (supported scopes: [ingress egress cp])",
        ),
        (
            &[
                "dataplane-token",
                "--valid-for",
                "1h",
                "--tag",
                "web",
                "--signing-key-path",
                key,
                "--kid",
                "1",
            ],
            "invalid argument \"web\" for \"--tag\" flag: web must be formatted as key=value",
        ),
    ];
    for (args, want) in cases {
        let out = kumactl(dir.path(), &[&["generate"][..], args].concat()).await;
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(stderr(&out), format!("Error: {want}\n"), "{args:?}");
        assert!(out.stdout.is_empty());
    }
    assert!(!dir.path().join("config").exists(), "flag errors come before any config is read");
}

#[tokio::test]
async fn deprecated_type_flag_warns_and_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = key_pair(dir.path()).await;
    let signing = ["--signing-key-path", key.to_str().unwrap(), "--kid", "kid-1"];
    let args = ["generate", "dataplane-token", "--type", "ingress", "--valid-for", "1h"];
    let out = kumactl(dir.path(), &[&args[..], &signing].concat()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "Flag --type has been deprecated, please use --proxy-type instead\n");
    let kind = KeyKind::Dataplane { mesh: "default".to_owned() };
    let got: Validated<DataplaneClaims> = validate(kind, &public, stdout(&out).trim_end());
    assert_eq!(got.claims.proxy_type, "ingress");
    assert_eq!(got.claims.mesh, "default");
}
