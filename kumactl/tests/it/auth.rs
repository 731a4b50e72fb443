//! kumactl proving who it is to a real control plane where localhost is not admin: a client
//! certificate makes an admin, and the auth flags are checked before anything is saved.

use std::path::Path;

use testkit::Zone;

use crate::helpers::{add_cp, connect, kumactl, stderr};

const NOT_LOCAL_ADMIN: (&str, &str) = ("KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN", "false");

/// `kumactl generate tls-certificate --type client` into `dir`; returns (cert, key).
async fn client_cert(dir: &Path) -> (String, String) {
    let args = ["generate", "tls-certificate", "--type", "client", "--hostname", "kumactl"];
    let out = kumactl(dir, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    (path("cert.pem"), path("key.pem"))
}

#[tokio::test]
async fn client_certificate_makes_an_admin_who_may_read_secrets() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = client_cert(certs.path()).await;
    let work = tempfile::tempdir().unwrap();
    let extra = [NOT_LOCAL_ADMIN, ("KUMA_API_SERVER_HTTPS_TLS_CA_FILE", &cert)];
    let cp = Zone::start(work.path(), &extra).await;
    let cp_ca = work.path().join("kuma-cp.crt");

    let anonymous = tempfile::tempdir().unwrap();
    connect(anonymous.path(), &cp, &cp_ca).await;
    let out = kumactl(anonymous.path(), &["get", "global-secrets"]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Access Denied"), "{}", stderr(&out));

    let admin = tempfile::tempdir().unwrap();
    let flags = ["--client-cert-file", &cert, "--client-key-file", &key];
    let out = add_cp(admin.path(), &cp, &cp_ca, &flags).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let config = std::fs::read_to_string(admin.path().join("config")).unwrap();
    assert!(config.contains(&format!("clientCertFile: {cert}")), "{config}");
    let out = kumactl(admin.path(), &["get", "global-secrets"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    cp.stop().await;
}

#[tokio::test]
async fn auth_flag_errors_are_kumas_and_nothing_is_saved() {
    let work = tempfile::tempdir().unwrap();
    let cp = Zone::start(work.path(), &[NOT_LOCAL_ADMIN]).await;
    let cp_ca = work.path().join("kuma-cp.crt");
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--client-cert-file", "/c.pem"],
            "Both --client-cert-file and --client-key-file needs to be specified",
        ),
        (&["--auth-type", "ldap"], "authentication plugin of type \"ldap\" is not found"),
        (
            &["--auth-type", "tokens", "--auth-conf", "tokenFile=/t"],
            "--auth-conf is not valid: provide token=YOUR_TOKEN",
        ),
    ];
    for (flags, want) in cases {
        let out = add_cp(dir.path(), &cp, &cp_ca, flags).await;
        assert!(!out.status.success(), "{flags:?}");
        assert_eq!(stderr(&out), format!("Error: {want}\n"), "{flags:?}");
    }
    assert!(!dir.path().join("config").exists());
    cp.stop().await;
}
