use std::fs;

use crate::helpers::{http_cp, https_cp, kumactl, server_pair, stderr, stdout};

#[tokio::test]
async fn control_planes_add_list_switch_remove() {
    let dir = tempfile::tempdir().unwrap();
    let cp = http_cp().await;

    let out = kumactl(
        dir.path(),
        &["config", "control-planes", "add", "--name", "one", "--address", &cp.url],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "added Control Plane \"one\"\nswitched active Control Plane to \"one\"\n"
    );

    let out = kumactl(dir.path(), &["config", "control-planes", "list"]).await;
    let want = format!(
        "ACTIVE   NAME    ADDRESS\n         local   http://localhost:5681\n*        one     {}\n",
        cp.url
    );
    assert_eq!(stdout(&out), want);

    let out = kumactl(
        dir.path(),
        &["config", "control-planes", "add", "--name", "one", "--address", &cp.url],
    )
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists. Use --overwrite"), "{}", stderr(&out));

    let out = kumactl(dir.path(), &["config", "control-planes", "switch", "--name", "local"]).await;
    assert_eq!(stdout(&out), "switched active Control Plane to \"local\"\n");
    let config = fs::read_to_string(dir.path().join("config")).unwrap();
    assert!(config.contains("currentContext: local"), "{config}");

    let out = kumactl(dir.path(), &["config", "control-planes", "remove", "--name", "one"]).await;
    assert_eq!(stdout(&out), "removed Control Plane \"one\"\n");
    let out = kumactl(dir.path(), &["config", "control-planes", "switch", "--name", "one"]).await;
    assert!(!out.status.success());
    assert_eq!(stderr(&out), "Error: there is no Control Plane with name \"one\"\n");
}

#[tokio::test]
async fn add_refuses_a_control_plane_that_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there once the listener is dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let out = kumactl(
        dir.path(),
        &["config", "control-planes", "add", "--name", "gone", "--address", &url],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("could not connect to the Control Plane API Server"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("config").exists(), "nothing saved");
}

#[tokio::test]
async fn https_control_plane_is_verified_with_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let pair = server_pair();
    let cp = https_cp(&pair).await;
    // The certificate file itself (leaf then CA) works as the trust bundle, as with curl --cacert.
    let ca = dir.path().join("kuma-cp.crt");
    fs::write(&ca, &pair.cert_pem).unwrap();

    let out = kumactl(
        dir.path(),
        &["config", "control-planes", "add", "--name", "tls", "--address", &cp.url],
    )
    .await;
    assert!(!out.status.success(), "an unknown CA is refused");

    let args = [
        "config",
        "control-planes",
        "add",
        "--name",
        "tls",
        "--address",
        &cp.url,
        "--ca-cert-file",
    ];
    let out = kumactl(dir.path(), &[&args[..], &[ca.to_str().unwrap()]].concat()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let config = fs::read_to_string(dir.path().join("config")).unwrap();
    assert!(config.contains(&format!("caCertFile: {}", ca.display())), "{config}");
}
