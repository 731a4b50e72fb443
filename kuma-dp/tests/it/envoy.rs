//! kuma-dp runs the real Envoy: with its bootstrap, its admin API on a private Unix socket, TLS
//! to the control plane verified against the CA and the host; it drains on SIGTERM, stops when
//! Envoy dies, and refuses a missing or wrong binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{eventually, http_client};
use tokio::process::Command;

use crate::helpers::{
    KumaDp, WAIT, Zone, admin_get, alive, as_strs, certs_when, envoy_bin, signal, stat, web_args,
};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Envoy's `/server_info`, once its admin socket answers.
async fn server_info(socket: &Path) -> Value {
    eventually("Envoy's admin API on its socket", WAIT, || async {
        let (200, body) = admin_get(socket, "/server_info").await? else { return None };
        serde_json::from_str(&body).ok()
    })
    .await
}

/// Envoy completed TLS handshakes with the CP's DP server through `ads_cluster` (which
/// verifies the CA and the host) and none failed verification.
async fn ads_tls_is_verified(socket: &Path) {
    eventually("a verified TLS handshake on ads_cluster", WAIT, || async {
        (stat(socket, "cluster.ads_cluster.ssl.handshake").await > 0).then_some(())
    })
    .await;
    for failure in ["ssl.fail_verify_san", "ssl.fail_verify_error", "ssl.connection_error"] {
        let name = format!("cluster.ads_cluster.{failure}");
        assert_eq!(stat(socket, &name).await, 0, "{name}");
    }
}

#[tokio::test]
async fn kuma_dp_runs_envoy_with_its_bootstrap_and_a_private_admin_socket() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(Some("1h")).await;
    let args = web_args(&zone, dir.path()).await;
    let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
    let readiness = dp.readiness().await;
    dp.envoy_pid().await;
    let socket = dp.admin_socket();
    let info = server_info(&socket).await;
    assert_eq!(info["node"]["id"], "default.web-01");
    assert_eq!(info["node"]["cluster"], "web");
    assert_eq!(info["node"]["metadata"]["dataplane"]["proxyType"], "dataplane");
    let port = readiness.rsplit(':').next().unwrap();
    assert_eq!(info["node"]["metadata"]["dataplane"]["readinessReporter"]["port"], port);
    assert!(info["version"].as_str().unwrap().contains("/1.40.0/"), "{}", info["version"]);
    let options = &info["command_line_options"];
    assert_eq!(options["disable_hot_restart"], true);
    assert_eq!(options["concurrency"], 1);
    // Sockets and bootstrap are the owner's alone; the bootstrap holds the token, not the key.
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(&dp.work_dir.join("kuma-sds.sock")), 0o600);
    let bootstrap = dp.work_dir.join("bootstrap.yaml");
    assert_eq!(mode(&bootstrap), 0o600);
    let yaml = std::fs::read_to_string(&bootstrap).unwrap();
    let token = std::fs::read_to_string(dir.path().join("token")).unwrap();
    assert!(yaml.contains(token.trim()) && !yaml.contains("PRIVATE KEY"));
    // The delta flavour of ADS by default, over TLS checked against the CA and `localhost`.
    let (_, bootstrap_dump) = admin_get(&socket, "/config_dump?mask=bootstrap").await.unwrap();
    let dumped: Value = serde_json::from_str(&bootstrap_dump).unwrap();
    let ads = &dumped["configs"][0]["bootstrap"]["dynamic_resources"]["ads_config"];
    assert_eq!(ads["api_type"], "DELTA_GRPC");
    ads_tls_is_verified(&socket).await;
    certs_when(&readiness, "a certificate", |_| true).await;
    dp.kill().await;
    zone.stop().await;
}

#[tokio::test]
async fn sigterm_fails_readiness_drains_envoy_and_exits_zero_and_an_ip_host_is_verified() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(None).await;
    let mut args = web_args(&zone, dir.path()).await;
    // The CP by address: its certificate carries 127.0.0.1 as an IP SAN.
    args[1] = format!("https://127.0.0.1:{}", zone.dp_port());
    args.extend(["--drain-time".to_owned(), "3s".to_owned()]);
    let sotw = [("KUMA_DATAPLANE_RUNTIME_ENVOY_XDS_TRANSPORT_PROTOCOL_VARIANT", "GRPC")];
    let mut dp = KumaDp::start_with(dir.path(), &as_strs(&args), &sotw);
    let readiness = dp.readiness().await;
    let envoy = dp.envoy_pid().await;
    let socket = dp.admin_socket();
    let info = server_info(&socket).await;
    assert_eq!(info["command_line_options"]["drain_time"], "3s");
    ads_tls_is_verified(&socket).await;
    let (_, dump) = admin_get(&socket, "/config_dump?mask=bootstrap").await.unwrap();
    assert!(dump.contains("\"api_type\": \"GRPC\""), "{dump}");

    let terminated = std::time::Instant::now();
    dp.terminate();
    // Envoy was told to fail its health checks (its admin answered 200), and drains.
    dp.line_with("Envoy now fails its health checks").await;
    dp.line_with("draining Envoy").await;
    let resp = http_client().get(format!("{readiness}/ready")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.text().await.unwrap(), "terminating\n");
    assert!(alive(envoy), "Envoy runs while it drains");
    let status = dp.exit().await;
    assert!(status.success(), "{status:?}");
    assert!(terminated.elapsed() >= std::time::Duration::from_secs(3), "the drain time was kept");
    dp.line_with("Envoy stopped").await;
    assert!(!alive(envoy), "Envoy is stopped");
    zone.stop().await;
}

#[tokio::test]
async fn when_envoy_dies_kuma_dp_exits_non_zero_with_its_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(None).await;
    let args = web_args(&zone, dir.path()).await;
    let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
    let envoy = dp.envoy_pid().await;
    server_info(&dp.admin_socket()).await;
    signal(envoy, rustix::process::Signal::KILL);
    let line = dp.line_with("Error: Envoy was killed by signal 9 (SIGKILL)").await;
    assert!(line.ends_with("its last lines:") || line.contains("printed nothing"), "{line}");
    assert!(!dp.exit().await.success());
    zone.stop().await;
}

#[tokio::test]
async fn a_missing_wrong_or_old_envoy_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let fake_old = dir.path().join("old-envoy");
    std::fs::write(
        &fake_old,
        "#!/bin/sh\necho 'envoy  version: abc/1.20.0/Clean/RELEASE/BoringSSL'\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake_old, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cases = [
        ("/nonexistent/envoy", "Envoy binary /nonexistent/envoy does not exist"),
        ("no-such-envoy", "Envoy binary \"no-such-envoy\" not found next to kuma-dp"),
        ("/bin/true", "/bin/true is not Envoy: `--version` printed \"true (GNU coreutils)"),
        (fake_old.to_str().unwrap(), "Envoy 1.20.0 at "),
    ];
    for (binary, message) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_kuma-dp"))
            .args(["run", "--cp-address", "https://localhost:1", "--name", "web-01"])
            .args(["--ca-cert-file", "/nonexistent/ca.crt", "--binary-path", binary])
            .env("KUMA_DATAPLANE_RUNTIME_TOKEN", "t")
            .env("PATH", "/nonexistent")
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{binary}");
        assert!(stderr.contains(message), "{binary}: {stderr}");
        assert!(stderr.contains("./scripts/install-deps"), "{binary}: {stderr}");
    }
    // The real one passes the check (and then fails on the missing CA file, naming it).
    let out = Command::new(env!("CARGO_BIN_EXE_kuma-dp"))
        .args(["run", "--cp-address", "https://localhost:1", "--name", "web-01"])
        .args(["--ca-cert-file", "/nonexistent/ca.crt", "--binary-path"])
        .arg(envoy_bin())
        .env("KUMA_DATAPLANE_RUNTIME_TOKEN", "t")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reading --ca-cert-file /nonexistent/ca.crt"), "{stderr}");
}

#[tokio::test]
async fn a_zone_ingress_runs_envoy_without_a_mesh_identity() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    let token = dir.path().join("ingress.token");
    let body = json!({"zone": "default", "scope": ["ingress"]});
    zone.token_from("/tokens/zone", body, &token).await;
    let resource = json!({"type": "ZoneIngress", "name": "ingress-1", "networking": {
        "address": "127.0.0.1", "port": 10001}})
    .to_string();
    let (cp, ca) = (zone.cp_address(), zone.ca.to_str().unwrap().to_owned());
    let mut dp = KumaDp::start(
        dir.path(),
        &[
            "--cp-address",
            &cp,
            "--ca-cert-file",
            &ca,
            "--dataplane-token-file",
            token.to_str().unwrap(),
            "--proxy-type",
            "ingress",
            "--dataplane",
            &resource,
        ],
    );
    let readiness = dp.readiness().await;
    let info = server_info(&dp.admin_socket()).await;
    assert_eq!(info["node"]["id"], ".ingress-1");
    assert_eq!(info["node"]["cluster"], "ingress");
    assert_eq!(info["node"]["metadata"]["dataplane"]["proxyType"], "ingress");
    let certs = certs_when(&readiness, "the CP's answer", |_| true).await;
    assert_eq!(certs["mtls"], false);
    assert_eq!(certs["certChain"], Value::Null);
    dp.kill().await;
    zone.stop().await;
}
