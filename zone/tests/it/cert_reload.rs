//! Every TLS listener of a zone follows its certificate files: replaced while the zone runs, the
//! new certificate is what a real TLS client is presented within seconds, without a restart.
//! The global's KDS listener has the same test in the global's tests.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use testkit::Zone;
use testkit::tls::{CertFiles, presented_leaf, wait_for_leaf};

const WITHIN: Duration = Duration::from_secs(10);

/// Starts a zone with `env` plus the variables of `files` under `prefix`, checks that `listener`
/// presents them, replaces them and waits for the new certificate.
async fn follows_its_files(
    dir: &Path,
    prefix: &str,
    env: &[(&str, &str)],
    listener: impl Fn(&Zone) -> SocketAddr,
) {
    let (files, first) = CertFiles::create(&dir.join("certs"));
    let vars = files.env(prefix);
    let mut all: Vec<(&str, &str)> = env.to_vec();
    all.extend(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let zone = Zone::start(&dir.join("work"), &all).await;
    let addr = listener(&zone);
    assert_eq!(presented_leaf(addr).await.as_deref(), Some(first.as_slice()), "{prefix}");
    let second = files.replace();
    wait_for_leaf(prefix, addr, &second, WITHIN).await;
    zone.stop().await;
}

#[tokio::test]
async fn the_https_api_serves_its_replaced_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let https = |zone: &Zone| zone.addresses.https.unwrap();
    follows_its_files(dir.path(), "KUMA_API_SERVER_HTTPS_TLS", &[], https).await;
}

#[tokio::test]
async fn diagnostics_serve_their_replaced_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("KUMA_DIAGNOSTICS_TLS_ENABLED", "true")];
    let diagnostics = |zone: &Zone| zone.addresses.diagnostics;
    follows_its_files(dir.path(), "KUMA_DIAGNOSTICS_TLS", &env, diagnostics).await;
}

#[tokio::test]
async fn mads_serves_its_replaced_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED", "true")];
    let mads = |zone: &Zone| zone.mads.unwrap();
    follows_its_files(dir.path(), "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS", &env, mads).await;
}

#[tokio::test]
async fn the_dp_server_serves_its_replaced_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let dp_server = |zone: &Zone| zone.dp_server;
    follows_its_files(dir.path(), "KUMA_DP_SERVER_TLS", &[], dp_server).await;
}

#[tokio::test]
async fn listeners_without_files_of_their_own_follow_the_control_plane_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("KUMA_DIAGNOSTICS_TLS_ENABLED", "true")];
    let (files, first) = CertFiles::create(&dir.path().join("certs"));
    let vars = files.env("KUMA_GENERAL_TLS");
    let mut all: Vec<(&str, &str)> = env.to_vec();
    all.extend(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let zone = Zone::start(&dir.path().join("work"), &all).await;
    let listeners = [zone.addresses.https.unwrap(), zone.addresses.diagnostics, zone.dp_server];
    for addr in listeners {
        assert_eq!(presented_leaf(addr).await.as_deref(), Some(first.as_slice()));
    }
    let second = files.replace();
    for addr in listeners {
        wait_for_leaf("a listener on the CP certificate", addr, &second, WITHIN).await;
    }
    zone.stop().await;
}
