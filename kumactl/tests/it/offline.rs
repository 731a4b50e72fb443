//! Tokens signed offline with `kumactl --signing-key-path --kid` are accepted by a control plane
//! that has the matching public key in its configuration (Kuma's offline auth).

use testkit::Zone;

use crate::helpers::{add_cp, kumactl, stderr, stdout};

#[tokio::test]
async fn user_token_signed_offline_is_accepted_by_the_cp() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.pem");
    let out = kumactl(dir.path(), &["generate", "signing-key", "--format", "pem"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&key, stdout(&out)).unwrap();
    let out = kumactl(
        dir.path(),
        &["generate", "public-key", "--signing-key-path", key.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let public = dir.path().join("public.pem");
    std::fs::write(&public, stdout(&out)).unwrap();

    let file = dir.path().join("kuma-cp.yaml");
    let yaml = format!(
        "apiServer:\n  authn:\n    tokens:\n      validator:\n        publicKeys:\n        - kid: static-1\n          keyFile: {}\n",
        public.display()
    );
    std::fs::write(&file, yaml).unwrap();
    let work = dir.path().join("work");
    let config = shared::testing::cp::config_with_file(
        &work,
        &file,
        &[("KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN", "false")],
    );
    let cp = Zone::start_with(config).await;

    let key_path = key.to_str().unwrap();
    let args = [
        "generate",
        "user-token",
        "--name",
        "bob",
        "--group",
        "mesh-system:admin",
        "--valid-for",
        "1h",
        "--signing-key-path",
        key_path,
        "--kid",
        "static-1",
    ];
    let out = kumactl(dir.path(), &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_owned();

    let conf = format!("token={token}");
    let ca = work.join("kuma-cp.crt");
    let out = add_cp(dir.path(), &cp, &ca, &["--auth-type", "tokens", "--auth-conf", &conf]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kumactl(dir.path(), &["get", "global-secrets", "-o", "json"]).await;
    assert!(out.status.success(), "the offline token must be accepted: {}", stderr(&out));

    // The same claims signed with another key under the same kid are refused.
    let other = dir.path().join("other.pem");
    let out = kumactl(dir.path(), &["generate", "signing-key", "--format", "pem"]).await;
    std::fs::write(&other, stdout(&out)).unwrap();
    let args = [
        "generate",
        "user-token",
        "--name",
        "bob",
        "--group",
        "mesh-system:admin",
        "--valid-for",
        "1h",
        "--signing-key-path",
        other.to_str().unwrap(),
        "--kid",
        "static-1",
    ];
    let forged = stdout(&kumactl(dir.path(), &args).await).trim().to_owned();
    let conf = format!("token={forged}");
    let out = add_cp(dir.path(), &cp, &ca, &["--auth-type", "tokens", "--auth-conf", &conf]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kumactl(dir.path(), &["get", "global-secrets"]).await;
    assert!(!out.status.success(), "a token signed with another key must be refused");
    cp.stop().await;
}
