//! `kuma-dp run` as a process against a zone's DP server: it gets a certificate and shows it on
//! `/certs`; a foreign CA and a host that is not a SAN make it refuse.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{eventually, http_client};
use tokio::process::Command;

use crate::helpers::{KumaDp, WAIT, Zone, admin_get, as_strs, certs_when, web_args};

/// kuma-dp's `/ready` is 200 exactly when Envoy's admin `/ready` is (Envoy is LIVE once the
/// control plane has configured it), polled until both are read in one state.
async fn ready_follows_envoy(readiness: &str, admin: &Path) {
    eventually("kuma-dp's /ready to agree with Envoy's", WAIT, || async {
        let (before, _) = admin_get(admin, "/ready").await?;
        let ours = http_client().get(format!("{readiness}/ready")).send().await.ok()?;
        let ours_ok = ours.status() == StatusCode::OK;
        let body = ours.text().await.ok()?;
        let (after, _) = admin_get(admin, "/ready").await?;
        (before == after && ours_ok == (before == 200)).then_some(())?;
        assert!(ours_ok || body.starts_with("envoy is not ready: "), "{body}");
        Some(())
    })
    .await;
}

#[tokio::test]
async fn kuma_dp_gets_a_certificate_and_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(Some("1h")).await;
    let args = web_args(&zone, dir.path()).await;
    let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
    let admin = dp.readiness().await;
    let certs = certs_when(&admin, "a certificate on /certs", |_| true).await;
    assert_eq!(certs["mtls"], true);
    assert_eq!(certs["uris"][0], "spiffe://default/web");
    assert_eq!(certs["regenerations"], 1);
    assert!(certs["certChain"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(certs["trustBundle"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
    assert!(certs.get("key").is_none() && !certs.to_string().contains("PRIVATE KEY"));
    let expiry = certs["expiry"].as_str().unwrap();
    let rotate_at = certs["rotateAt"].as_str().unwrap();
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let expiry = time::OffsetDateTime::parse(expiry, rfc3339).unwrap();
    assert!(time::OffsetDateTime::parse(rotate_at, rfc3339).unwrap() < expiry);
    ready_follows_envoy(&admin, &dp.admin_socket()).await;
    // The Dataplane given inline was stored by the DP server.
    let resp = http_client().get(format!("{}/meshes/default/dataplanes/web-01", zone.api)).send();
    assert_eq!(resp.await.unwrap().status(), StatusCode::OK);
    dp.kill().await;
    zone.stop().await;
}

#[tokio::test]
async fn a_ca_that_did_not_issue_the_cp_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other_ca = dir.path().join("other.crt");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let cp = format!("https://localhost:{}", zone.dp_port());
    let mut dp = KumaDp::start(
        dir.path(),
        &["--cp-address", &cp, "--ca-cert-file", other_ca.to_str().unwrap(), "--name", "web-01"],
    );
    // Without any token source kuma-dp stops before connecting, with Kuma's message.
    let line = dp.line_with("Dataplane Token is required").await;
    assert!(line.starts_with("Error: "), "{line}");
    assert!(!dp.exit().await.success());

    let token = dir.path().join("token");
    std::fs::write(&token, "a-token").unwrap();
    let mut dp = KumaDp::start(
        dir.path(),
        &[
            "--cp-address",
            &cp,
            "--ca-cert-file",
            other_ca.to_str().unwrap(),
            "--name",
            "web-01",
            "--dataplane-token-file",
            token.to_str().unwrap(),
        ],
    );
    dp.line_with("the control plane certificate is not trusted by the given CA").await;
    assert!(!dp.exit().await.success());
    zone.stop().await;
}

#[tokio::test]
async fn a_host_that_is_not_a_san_gets_kumas_message() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    let token = dir.path().join("token");
    std::fs::write(&token, "a-token").unwrap();
    // The whole of 127/8 is loopback; the generated certificate names only 127.0.0.1 of it.
    let cp = format!("https://127.0.0.2:{}", zone.dp_port());
    let mut dp = KumaDp::start(
        dir.path(),
        &[
            "--cp-address",
            &cp,
            "--ca-cert-file",
            zone.ca.to_str().unwrap(),
            "--name",
            "web-01",
            "--dataplane-token-file",
            token.to_str().unwrap(),
        ],
    );
    let line = dp
        .line_with(
            "A data plane proxy is trying to connect to the control plane using \"127.0.0.2\" \
             address, but the certificate in the control plane has the following SANs [",
        )
        .await;
    assert!(line.contains("\"localhost\""), "{line}");
    assert!(line.contains("Either change the --cp-address in kuma-dp to one of those"), "{line}");
    assert!(!dp.exit().await.success());
    zone.stop().await;
}

#[tokio::test]
async fn kuma_dp_rotates_at_rotate_at() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(Some("2s")).await;
    let args = web_args(&zone, dir.path()).await;
    let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
    let admin = dp.readiness().await;
    let first = certs_when(&admin, "a first certificate", |_| true).await;
    let second = certs_when(&admin, "a rotated certificate", |c| {
        c["regenerations"].as_u64().is_some_and(|n| n >= 2)
    })
    .await;
    assert_ne!(first["certChain"], second["certChain"]);
    assert_eq!(second["uris"][0], "spiffe://default/web");
    dp.kill().await;
    zone.stop().await;
}

#[tokio::test]
async fn without_mtls_kuma_dp_runs_envoy_and_holds_no_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(None).await;
    let args = web_args(&zone, dir.path()).await;
    let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
    let admin = dp.readiness().await;
    let certs = certs_when(&admin, "an answer on /certs", |_| true).await;
    assert_eq!(certs["mtls"], false);
    assert_eq!(certs["certChain"], Value::Null);
    assert_eq!(certs["regenerations"], 0);
    ready_follows_envoy(&admin, &dp.admin_socket()).await;
    // Envoy runs (plain traffic) and SDS has nothing to give it.
    let (code, _) = admin_get(&dp.admin_socket(), "/server_info").await.unwrap();
    assert_eq!(code, 200);
    dp.kill().await;
    zone.stop().await;
}

#[tokio::test]
async fn a_revoked_token_ends_the_session_and_a_new_token_file_is_read_on_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(Some("1h")).await;
    let args = web_args(&zone, dir.path()).await;
    let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
    let admin = dp.readiness().await;
    certs_when(&admin, "a first certificate", |_| true).await;
    let token_path = dir.path().join("token");
    let token = std::fs::read_to_string(&token_path).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let revoked = json!({"type": "GlobalSecret", "name": "dataplane-token-revocations-default",
        "data": STANDARD.encode(claims["jti"].as_str().unwrap())});
    let url = format!("{}/global-secrets/dataplane-token-revocations-default", zone.api);
    let resp = http_client().put(url).json(&revoked).send().await.unwrap();
    assert!(resp.status().is_success());
    let line = dp.line_with("session with the control plane ended").await;
    assert!(line.contains("token is revoked"), "{line}");
    let _ = zone.token(&token_path).await;
    let certs = certs_when(&admin, "a certificate under the new token", |c| {
        c["regenerations"].as_u64().is_some_and(|n| n >= 2)
    })
    .await;
    assert_eq!(certs["uris"][0], "spiffe://default/web");
    dp.kill().await;
    zone.stop().await;
}

/// The kumactl binary built beside kuma-dp (`cargo test --workspace` builds both).
fn kumactl_bin() -> PathBuf {
    let kuma_dp = Path::new(env!("CARGO_BIN_EXE_kuma-dp"));
    let kumactl = kuma_dp.with_file_name("kumactl");
    assert!(kumactl.exists(), "build kumactl first: cargo build -p kumactl");
    kumactl
}

async fn kumactl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(kumactl_bin())
        .arg("--config-file")
        .arg(dir.join("kumactl.config"))
        .args(args)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kumactl {args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of `column` in the row of `name` in a kumactl table.
fn cell(table: &str, name: &str, column: &str) -> Option<String> {
    let mut lines = table.lines();
    let at = lines.next()?.find(column)?;
    let row = lines.find(|l| l.split_whitespace().nth(1) == Some(name))?;
    row.get(at..)?.split_whitespace().next().map(str::to_owned)
}

#[tokio::test]
async fn with_30s_certificates_kumactl_shows_two_regenerations_within_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(Some("30s")).await;
    let args = web_args(&zone, dir.path()).await;
    kumactl(
        dir.path(),
        &["config", "control-planes", "add", "--name", "zone", "--address", &zone.api],
    )
    .await;
    let started = std::time::Instant::now();
    let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
    let admin = dp.readiness().await;
    certs_when(&admin, "a first certificate", |_| true).await;
    let table = eventually("two regenerations in kumactl", Duration::from_secs(60), || async {
        let table = kumactl(dir.path(), &["inspect", "dataplanes"]).await;
        let count = cell(&table, "web-01", "CERT REGENERATIONS")?.parse::<u64>().ok()?;
        (count >= 2).then_some(table)
    })
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_eq!(cell(&table, "web-01", "STATUS").as_deref(), Some("Online"), "{table}");
    let certs = certs_when(&admin, "the rotated certificate", |c| c["regenerations"] == 2).await;
    assert_eq!(certs["uris"][0], "spiffe://default/web");
    dp.kill().await;
    zone.stop().await;
}

/// A CA certificate (PEM) and its issuer; `parent` signs it, or it signs itself.
fn test_ca(
    cn: &str,
    parent: Option<&rcgen::CertifiedIssuer<'static, rcgen::KeyPair>>,
) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyUsagePurpose};
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = rcgen::KeyPair::generate().unwrap();
    match parent {
        Some(parent) => rcgen::CertifiedIssuer::signed_by(params, key, parent).unwrap(),
        None => rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
    }
}

fn parse_pems(pem: &str) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()).map(|p| p.unwrap().contents).collect()
}

#[tokio::test]
async fn a_provided_ca_with_an_intermediate_issues_a_chain_to_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    let root = test_ca("provided root", None);
    let inter = test_ca("provided intermediate", Some(&root));
    let chain = format!("{}{}", inter.pem(), root.pem());
    let mesh = json!({"type": "Mesh", "name": "default", "mtls": {"enabledBackend": "ca-p",
        "backends": [{"name": "ca-p", "type": "provided", "conf": {
            "cert": {"inlineString": chain},
            "key": {"inlineString": inter.key().serialize_pem()}}}]}});
    let resp = http_client().put(format!("{}/meshes/default", zone.api)).json(&mesh).send().await;
    let resp = resp.unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let args = web_args(&zone, dir.path()).await;
    let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
    let admin = dp.readiness().await;
    let certs = certs_when(&admin, "a certificate from the provided CA", |_| true).await;
    assert_eq!(certs["uris"][0], "spiffe://default/web");
    let served = parse_pems(certs["certChain"].as_str().unwrap());
    assert!(served.len() >= 2, "the leaf comes with the intermediate");
    let bundle = parse_pems(certs["trustBundle"].as_str().unwrap());
    assert!(bundle.contains(&root.der().to_vec()), "the trust bundle holds the provided root");
    // leaf → intermediate → root, each signature checked.
    fn parse(der: &[u8]) -> x509_parser::certificate::X509Certificate<'_> {
        x509_parser::parse_x509_certificate(der).unwrap().1
    }
    let (leaf, middle) = (parse(&served[0]), parse(&served[1]));
    let top = parse(root.der());
    assert_eq!(middle.subject().to_string(), "CN=provided intermediate");
    leaf.verify_signature(Some(middle.public_key())).unwrap();
    middle.verify_signature(Some(top.public_key())).unwrap();
    dp.kill().await;
    zone.stop().await;
}
