use std::fs;
use std::os::unix::fs::PermissionsExt;

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::helpers::{kumactl, stderr, stdout};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn tls_certificate_files_hold_a_matching_pair() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "generate",
        "tls-certificate",
        "--type",
        "client",
        "--hostname",
        "a.example,10.0.0.1",
        "--key-type",
        "ecdsa",
    ];
    let out = kumactl(dir.path(), &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Private key saved in key.pem\nCertificate saved in cert.pem\n");

    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    assert_eq!(mode(&key), 0o400);
    assert_eq!(mode(&cert), 0o600);
    let pair = kuma_core::tls::load_pair(&cert, &key).unwrap();
    let chain = pair.chain().unwrap();
    assert_eq!(chain.len(), 2);
    let (_, leaf) = X509Certificate::from_der(&chain[0]).unwrap();
    assert!(leaf.extended_key_usage().unwrap().unwrap().value.client_auth);
    assert!(!leaf.is_ca());
}

#[tokio::test]
async fn tls_certificate_to_stdout_writes_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "generate",
        "tls-certificate",
        "--type=server",
        "--hostname=h",
        "--key-file=-",
        "--cert-file=-",
    ];
    let out = kumactl(dir.path(), &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
    assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 2);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn tls_certificate_errors_are_kumas() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["--type=peer", "--hostname=h"], "Error: invalid certificate type \"peer\"\n"),
        (&["--type=server", "--hostname=h", "--key-type=dsa"], "Error: invalid key type \"dsa\"\n"),
        (&["--type=server"], "Error: at least one hostname must be given\n"),
    ];
    for (args, want) in cases {
        let out = kumactl(dir.path(), &[&["generate", "tls-certificate"][..], args].concat()).await;
        assert!(!out.status.success());
        assert_eq!(stderr(&out), want);
    }
}
