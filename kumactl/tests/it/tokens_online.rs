//! Tokens from a real control plane's `POST /tokens/*`, and user tokens sent back to it as
//! `Authorization: Bearer` where localhost is not admin.

use std::collections::HashSet;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kuma_core::tokens::{DataplaneClaims, KeyKind, KeySet, Validator};
use serde_json::Value;
use testkit::Zone;
use time::OffsetDateTime;

use crate::helpers::{add_cp, connect, kumactl, stderr, stdout};

const NOT_LOCAL_ADMIN: (&str, &str) = ("KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN", "false");

/// Runs `kumactl generate <args>` and returns the token it printed.
async fn generate(dir: &Path, args: &[&str]) -> String {
    let out = kumactl(dir, &[&["generate"][..], args].concat()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let token = text.strip_suffix('\n').expect("a trailing newline");
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    token.to_owned()
}

#[tokio::test]
async fn dataplane_token_from_the_control_plane_carries_the_flags_as_claims() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let cp = Zone::start(&work, &[]).await;
    connect(dir.path(), &cp, &work.join("kuma-cp.crt")).await;
    let mesh = dir.path().join("mesh.yaml");
    std::fs::write(&mesh, "type: Mesh\nname: default\n").unwrap();
    let out = kumactl(dir.path(), &["apply", "-f", mesh.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let args = [
        "dataplane-token",
        "--name",
        "web-1",
        "--tag",
        "kuma.io/service=web,web-api",
        "--proxy-type",
        "dataplane",
        "--valid-for",
        "24h",
    ];
    let token = generate(dir.path(), &args).await;

    // Verified with the mesh's signing key as the CP stored it.
    let key_name = "dataplane-token-signing-key-default-1";
    let args = ["get", "secret", key_name, "-m", "default", "-o", "json"];
    let out = kumactl(dir.path(), &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let secret: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let pem = STANDARD.decode(secret["data"].as_str().unwrap()).unwrap();
    let kind = KeyKind::Dataplane { mesh: "default".to_owned() };
    let mut keys = KeySet::signing_keys(&kind);
    assert!(keys.insert_secret(key_name, &pem).unwrap());
    let validator = Validator::new(kind, keys, HashSet::new());
    let got = validator.validate::<DataplaneClaims>(&token, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(got.claims.name, "web-1");
    assert_eq!(got.claims.mesh, "default");
    assert_eq!(got.claims.tags["kuma.io/service"], ["web", "web-api"]);
    assert_eq!(got.claims.proxy_type, "dataplane");

    let args = ["generate", "dataplane-token", "-m", "nope", "--valid-for", "1h"];
    let out = kumactl(dir.path(), &args).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("Error: failed to generate a dataplane token: "), "{err}");
    assert!(err.contains("mesh of name \"nope\" is not found"), "{err}");
    cp.stop().await;
}

#[tokio::test]
async fn user_token_makes_kumactl_an_admin_where_localhost_is_not() {
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("work");
    let cp_ca = work.join("kuma-cp.crt");

    // Tokens come from the CP while localhost is still admin; the store keeps the signing key.
    let local = root.path().join("local");
    std::fs::create_dir(&local).unwrap();
    let cp = Zone::start(&work, &[]).await;
    connect(&local, &cp, &cp_ca).await;
    let user_token = |name: &'static str, group: &'static str| {
        let local = local.clone();
        async move {
            let args = ["user-token", "--name", name, "--group", group, "--valid-for", "1h"];
            generate(&local, &args).await
        }
    };
    let admin_token = user_token("alice", "mesh-system:admin").await;
    let user_only = user_token("bob", "users").await;
    cp.stop().await;

    let cp = Zone::start(&work, &[NOT_LOCAL_ADMIN]).await;
    let as_token = async |name: &str, token: &str| {
        let dir = root.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let conf = format!("token={token}");
        let flags = ["--auth-type", "tokens", "--auth-conf", &conf];
        let out = add_cp(&dir, &cp, &cp_ca, &flags).await;
        assert!(out.status.success(), "{}", stderr(&out));
        dir
    };

    let admin = as_token("alice", &admin_token).await;
    let config = std::fs::read_to_string(admin.join("config")).unwrap();
    assert!(config.contains("authType: tokens"), "{config}");
    let out = kumactl(&admin, &["get", "global-secrets"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let args = ["generate", "zone-token", "--zone", "z1", "--valid-for", "1h"];
    let out = kumactl(&admin, &args).await;
    assert!(out.status.success(), "the admin token may issue: {}", stderr(&out));

    let bob = as_token("bob", &user_only).await;
    let out = kumactl(&bob, &["get", "global-secrets"]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Access Denied"), "{}", stderr(&out));

    connect(&local, &cp, &cp_ca).await;
    let out = kumactl(&local, &["get", "global-secrets"]).await;
    assert!(!out.status.success(), "localhost alone is no longer admin");
    assert!(stderr(&out).contains("Access Denied"), "{}", stderr(&out));
    let args = ["generate", "user-token", "--name", "eve", "--valid-for", "1h"];
    let out = kumactl(&local, &args).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("Error: failed to generate a user token: Access Denied"), "{err}");

    let forged = as_token("forged", "not.a.token").await;
    let out = kumactl(&forged, &["get", "meshes"]).await;
    assert!(!out.status.success(), "a bad token is refused, not ignored");
    cp.stop().await;
}
