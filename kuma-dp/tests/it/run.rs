//! `kuma-dp run` as a process against a zone's DP server: it gets a certificate and shows it on
//! `/certs`; a foreign CA and a host that is not a SAN make it refuse.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{eventually, http_client};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// The zone under test (a `testkit::Zone`), with the helpers these tests share.
struct Zone(testkit::Zone);

impl Deref for Zone {
    type Target = testkit::Zone;

    fn deref(&self) -> &testkit::Zone {
        &self.0
    }
}

impl Zone {
    async fn start(dir: &Path) -> Self {
        Self(testkit::Zone::start(dir, &[]).await)
    }

    async fn stop(self) {
        self.0.stop().await;
    }

    /// The mesh `default`, with a builtin CA issuing certificates valid for `expiration` when
    /// given, without mTLS otherwise.
    async fn mesh(&self, expiration: Option<&str>) {
        let mesh = match expiration {
            Some(expiration) => json!({"type": "Mesh", "name": "default", "mtls": {
                "enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin",
                "dpCert": {"rotation": {"expiration": expiration}}}]}}),
            None => json!({"type": "Mesh", "name": "default"}),
        };
        let resp =
            http_client().put(format!("{}/meshes/default", self.api)).json(&mesh).send().await;
        assert!(resp.unwrap().status().is_success());
    }

    /// A token for web-01, written to `path`; returns it.
    async fn token(&self, path: &Path) -> String {
        let url = format!("{}/tokens/dataplane", self.api);
        let body = json!({"name": "web-01", "mesh": "default"});
        let resp = http_client().post(url).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let token = resp.text().await.unwrap();
        std::fs::write(path, &token).unwrap();
        token
    }
}

/// A running kuma-dp and the lines of its stderr.
struct KumaDp {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl KumaDp {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kuma-dp"))
            .arg("run")
            .args(args)
            .args(["--admin-port", "0"])
            .env("RUST_LOG", "info")
            .env_remove("KUMA_DATAPLANE_RUNTIME_TOKEN")
            .env_remove("KUMA_CONTROL_PLANE_CA_CERT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, seen: Vec::new() }
    }

    /// The first stderr line containing `needle`.
    async fn line_with(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv()).await;
            match line {
                Ok(Some(line)) if line.contains(needle) => return line,
                Ok(Some(line)) => self.seen.push(line),
                _ => panic!("no line with {needle:?} in {:#?}", self.seen),
            }
        }
    }

    async fn admin(&mut self) -> String {
        let line = self.line_with("admin listening").await;
        let addr = line.split("addr=").nth(1).unwrap().split_whitespace().next().unwrap();
        format!("http://{addr}")
    }

    async fn exit(&mut self) -> ExitStatus {
        tokio::time::timeout(WAIT, self.child.wait()).await.expect("kuma-dp exits").unwrap()
    }
}

/// The arguments of a kuma-dp for web-01 with a token for it and the Dataplane inline.
async fn web_args(zone: &Zone, dir: &Path) -> Vec<String> {
    let token = dir.join("token");
    let _ = zone.token(&token).await;
    let cp = format!("https://localhost:{}", zone.dp_server.port());
    let (ca, token) = (zone.ca.to_str().unwrap(), token.to_str().unwrap());
    ["--cp-address", &cp, "--ca-cert-file", ca, "--dataplane-token-file", token]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(["--dataplane".to_owned(), web()])
        .collect()
}

/// `/certs` once it answers 200 and `check` holds.
async fn certs_when(admin: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(what, WAIT, || async {
        let resp = http_client().get(format!("{admin}/certs")).send().await.ok()?;
        (resp.status() == StatusCode::OK).then_some(())?;
        let certs: Value = resp.json().await.ok()?;
        check(&certs).then_some(certs)
    })
    .await
}

fn web() -> String {
    json!({"type": "Dataplane", "mesh": "default", "name": "web-01", "networking": {
        "address": "10.0.0.1",
        "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web", "version": "v1"}}]}})
    .to_string()
}

#[tokio::test]
async fn kuma_dp_gets_a_certificate_and_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(Some("1h")).await;
    let args = web_args(&zone, dir.path()).await;
    let mut dp = KumaDp::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let admin = dp.admin().await;
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
    let ready = http_client().get(format!("{admin}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    // The Dataplane given inline was stored by the DP server.
    let resp = http_client().get(format!("{}/meshes/default/dataplanes/web-01", zone.api)).send();
    assert_eq!(resp.await.unwrap().status(), StatusCode::OK);
    dp.child.kill().await.unwrap();
    zone.stop().await;
}

#[tokio::test]
async fn a_ca_that_did_not_issue_the_cp_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other_ca = dir.path().join("other.crt");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let cp = format!("https://localhost:{}", zone.dp_server.port());
    let mut dp = KumaDp::start(&[
        "--cp-address",
        &cp,
        "--ca-cert-file",
        other_ca.to_str().unwrap(),
        "--name",
        "web-01",
    ]);
    // Without any token source kuma-dp stops before connecting, with Kuma's message.
    let line = dp.line_with("Dataplane Token is required").await;
    assert!(line.starts_with("Error: "), "{line}");
    assert!(!dp.exit().await.success());

    let token = dir.path().join("token");
    std::fs::write(&token, "a-token").unwrap();
    let mut dp = KumaDp::start(&[
        "--cp-address",
        &cp,
        "--ca-cert-file",
        other_ca.to_str().unwrap(),
        "--name",
        "web-01",
        "--dataplane-token-file",
        token.to_str().unwrap(),
    ]);
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
    let cp = format!("https://127.0.0.2:{}", zone.dp_server.port());
    let mut dp = KumaDp::start(&[
        "--cp-address",
        &cp,
        "--ca-cert-file",
        zone.ca.to_str().unwrap(),
        "--name",
        "web-01",
        "--dataplane-token-file",
        token.to_str().unwrap(),
    ]);
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
    let mut dp = KumaDp::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let admin = dp.admin().await;
    let first = certs_when(&admin, "a first certificate", |_| true).await;
    let second = certs_when(&admin, "a rotated certificate", |c| {
        c["regenerations"].as_u64().is_some_and(|n| n >= 2)
    })
    .await;
    assert_ne!(first["certChain"], second["certChain"]);
    assert_eq!(second["uris"][0], "spiffe://default/web");
    dp.child.kill().await.unwrap();
    zone.stop().await;
}

#[tokio::test]
async fn without_mtls_kuma_dp_is_ready_and_holds_no_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(None).await;
    let args = web_args(&zone, dir.path()).await;
    let mut dp = KumaDp::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let admin = dp.admin().await;
    let certs = certs_when(&admin, "an answer on /certs", |_| true).await;
    assert_eq!(certs["mtls"], false);
    assert_eq!(certs["certChain"], Value::Null);
    assert_eq!(certs["regenerations"], 0);
    let ready = http_client().get(format!("{admin}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    dp.child.kill().await.unwrap();
    zone.stop().await;
}

#[tokio::test]
async fn a_revoked_token_ends_the_session_and_a_new_token_file_is_read_on_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(Some("1h")).await;
    let args = web_args(&zone, dir.path()).await;
    let mut dp = KumaDp::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let admin = dp.admin().await;
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
    dp.child.kill().await.unwrap();
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
    let mut dp = KumaDp::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let admin = dp.admin().await;
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
    dp.child.kill().await.unwrap();
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
    let mut dp = KumaDp::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let admin = dp.admin().await;
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
    dp.child.kill().await.unwrap();
    zone.stop().await;
}
