use std::time::Duration;

use kuma_core::shutdown;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{config, eventually, http_client, https_client};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn zone_serves_the_api_on_http_and_https_and_reports_ready() {
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().join("kuma");
    let app = zone::App::build(config(&work_dir, &[])).await.unwrap();
    let addrs = app.addresses();
    let (trigger, shutdown) = shutdown::channel();
    let running = tokio::spawn(app.run(shutdown));

    let https = https_client(&work_dir.join("kuma-cp.crt"));
    let port = addrs.https.unwrap().port();
    let index: Value =
        https.get(format!("https://localhost:{port}/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(index["product"], "Kuma");
    assert!(!index["clusterId"].as_str().unwrap().is_empty());

    let http = http_client();
    let config: Value = http
        .get(format!("http://{}/config", addrs.http.unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["mode"], "zone");
    assert_eq!(config["store"]["type"], "sqlite");

    let ready = format!("http://{}/ready", addrs.diagnostics);
    eventually("the zone to report ready", WAIT, || async {
        let resp = http.get(&ready).send().await.ok()?;
        (resp.status() == StatusCode::OK).then_some(())
    })
    .await;

    trigger.fire();
    running.await.unwrap().unwrap();
    assert!(http.get(&ready).send().await.is_err(), "diagnostics must stop with the app");
}

#[tokio::test]
async fn https_refuses_clients_that_do_not_trust_the_cp_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let app = zone::App::build(config(dir.path(), &[])).await.unwrap();
    let port = app.addresses().https.unwrap().port();
    let (trigger, shutdown) = shutdown::channel();
    let running = tokio::spawn(app.run(shutdown));

    // A client trusting another CA: a certificate made for a different control plane.
    let other = tempfile::tempdir().unwrap();
    kuma_core::tls::load_or_generate_cp_cert(other.path(), time::OffsetDateTime::now_utc())
        .unwrap();
    let client = https_client(&other.path().join("kuma-cp.crt"));
    let err = client.get(format!("https://localhost:{port}/")).send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");

    trigger.fire();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn federated_zone_refuses_writes_to_global_types() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: the zone's KDS client finds nobody there, which is
    // all this test needs (a federated zone), and no fixed port is touched.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("grpcs://127.0.0.1:{unused}");
    let extra = [("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", address.as_str())];
    let app = zone::App::build(config(dir.path(), &extra)).await.unwrap();
    let http_addr = app.addresses().http.unwrap();
    let (trigger, shutdown) = shutdown::channel();
    let running = tokio::spawn(app.run(shutdown));

    let resp = http_client()
        .put(format!("http://localhost:{}/meshes/default", http_addr.port()))
        .json(&json!({"type": "Mesh", "name": "default"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = resp.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().starts_with("On zone control plane"));

    trigger.fire();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn zone_app_refuses_a_global_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let err = zone::App::build(config(dir.path(), &[("KUMA_MODE", "global")])).await.err().unwrap();
    assert!(err.to_string().contains("KUMA_MODE=zone"), "{err}");
}

#[tokio::test]
async fn a_taken_port_fails_the_start_naming_the_server() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let extra = [("KUMA_API_SERVER_HTTPS_PORT", port.as_str())];
    let err = zone::App::build(config(dir.path(), &extra)).await.err().unwrap();
    let chain = format!("{err:#}");
    assert!(chain.contains("could not bind the API server (HTTPS)"), "{chain}");
}

#[tokio::test]
async fn diagnostics_can_serve_tls_with_the_cp_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let extra = [("KUMA_DIAGNOSTICS_TLS_ENABLED", "true")];
    let app = zone::App::build(config(dir.path(), &extra)).await.unwrap();
    let port = app.addresses().diagnostics.port();
    let (trigger, shutdown) = shutdown::channel();
    let running = tokio::spawn(app.run(shutdown));

    let https = https_client(&dir.path().join("kuma-cp.crt"));
    let ready = format!("https://localhost:{port}/ready");
    eventually("diagnostics over TLS to report ready", WAIT, || async {
        let resp = https.get(&ready).send().await.ok()?;
        (resp.status() == StatusCode::OK).then_some(())
    })
    .await;
    let plain = http_client().get(format!("http://localhost:{port}/ready")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    trigger.fire();
    running.await.unwrap().unwrap();
}

/// Splits a PEM bundle into its blocks.
fn pem_blocks(pem: &str) -> Vec<String> {
    pem.split_inclusive("-----END CERTIFICATE-----\n")
        .filter(|b| b.contains("BEGIN"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn client_certificate_makes_an_admin_and_can_be_required() {
    use kuma_core::tls::{CertKind, KeyType, client_config_with_identity, generate_certificate};
    let dir = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let admin =
        generate_certificate(CertKind::Client, &["admin".to_owned()], KeyType::Ecdsa, now).unwrap();
    let client_ca = dir.path().join("client-ca.crt");
    std::fs::write(&client_ca, pem_blocks(&admin.cert_pem).last().unwrap()).unwrap();
    let ca = client_ca.to_str().unwrap();

    for require in ["false", "true"] {
        let work = dir.path().join(format!("work-{require}"));
        let extra = [
            ("KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN", "false"),
            ("KUMA_API_SERVER_HTTPS_TLS_CA_FILE", ca),
            ("KUMA_API_SERVER_HTTPS_REQUIRE_CLIENT_CERT", require),
        ];
        let app = zone::App::build(config(&work, &extra)).await.unwrap();
        let url =
            format!("https://localhost:{}/global-secrets", app.addresses().https.unwrap().port());
        let (trigger, shutdown) = shutdown::channel();
        let running = tokio::spawn(app.run(shutdown));

        let server_ca = std::fs::read(work.join("kuma-cp.crt")).unwrap();
        let tls = client_config_with_identity(Some(&server_ca), &admin).unwrap();
        let with_cert = reqwest::Client::builder().use_preconfigured_tls(tls).build().unwrap();
        let resp = with_cert.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "require={require}");

        let without = https_client(&work.join("kuma-cp.crt")).get(&url).send().await;
        match require {
            "true" => assert!(without.is_err(), "a client without a certificate must be refused"),
            _ => assert_eq!(without.unwrap().status(), StatusCode::FORBIDDEN),
        }
        trigger.fire();
        running.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn bootstrap_admin_token_opens_secrets_and_token_issuing_to_a_remote_caller() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let app = zone::App::build(config(dir.path(), &[])).await.unwrap();
    let port = app.addresses().https.unwrap().port();
    let (trigger, shutdown) = shutdown::channel();
    let running = tokio::spawn(app.run(shutdown));
    let client = https_client(&dir.path().join("kuma-cp.crt"));
    let base = format!("https://localhost:{port}");

    // Locally (admin by Kuma's localhost rule): create a mesh and read the bootstrap token.
    let resp = client
        .put(format!("{base}/meshes/default"))
        .json(&json!({"type": "Mesh", "name": "default"}))
        .send()
        .await
        .unwrap();
    // The default mesh exists from the first start: this updates it.
    assert_eq!(resp.status(), StatusCode::OK);
    let secret: Value = client
        .get(format!("{base}/global-secrets/admin-user-token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token =
        base64::engine::general_purpose::STANDARD.decode(secret["data"].as_str().unwrap()).unwrap();
    let bearer = format!("Bearer {}", String::from_utf8(token).unwrap());

    // A request relayed by a proxy on this host is not local for the localhost rule: that is
    // how a remote caller reaches a CP behind a local reverse proxy.
    let remote = |req: reqwest::RequestBuilder| req.header("x-forwarded-for", "192.0.2.7");
    let dp_token = json!({"mesh": "default", "name": "web-1", "validFor": "1h"});

    let resp = remote(client.get(format!("{base}/secrets"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = remote(client.post(format!("{base}/tokens/dataplane")))
        .json(&dp_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let resp = remote(client.get(format!("{base}/secrets")))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = remote(client.post(format!("{base}/tokens/dataplane")))
        .header("authorization", &bearer)
        .json(&dp_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap().split('.').count(), 3, "a JWT");

    trigger.fire();
    running.await.unwrap().unwrap();
}

/// A dataplane token issued by the REST API verifies in an independent JWT library (PyJWT) given
/// only the mesh's public key.
#[tokio::test]
async fn token_from_the_api_verifies_in_pyjwt() {
    use base64::Engine;
    if std::env::var("KUMA_TEST_PYTHON").as_deref() == Ok("skip") {
        eprintln!("KUMA_TEST_PYTHON=skip: not running PyJWT");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = zone::App::build(config(dir.path(), &[])).await.unwrap();
    let base = format!("http://localhost:{}", app.addresses().http.unwrap().port());
    let (trigger, shutdown) = shutdown::channel();
    let running = tokio::spawn(app.run(shutdown));
    let client = http_client();
    let resp = client
        .put(format!("{base}/meshes/default"))
        .json(&json!({"type": "Mesh", "name": "default"}))
        .send()
        .await
        .unwrap();
    // The default mesh exists from the first start: this updates it.
    assert_eq!(resp.status(), StatusCode::OK);
    let token = client
        .post(format!("{base}/tokens/dataplane"))
        .json(&json!({"mesh": "default", "name": "web-1", "tags": {"kuma.io/service": ["web"]}, "validFor": "1h"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret: Value = client
        .get(format!("{base}/meshes/default/secrets/dataplane-token-signing-key-default-1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let private =
        base64::engine::general_purpose::STANDARD.decode(secret["data"].as_str().unwrap()).unwrap();
    let public = kuma_core::tokens::SigningKey::from_pem(&private).unwrap().public_key_pem();
    let key_file = dir.path().join("public.pem");
    std::fs::write(&key_file, public).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/py/verify_jwt.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&key_file)
        .arg(token.trim())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PyJWT refused the token (install with `python3 -m pip install PyJWT cryptography`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verified["header"]["alg"], "RS256");
    assert_eq!(verified["header"]["kid"], "1");
    assert_eq!(verified["claims"]["Name"], "web-1");
    assert_eq!(verified["claims"]["Mesh"], "default");
    trigger.fire();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_static_public_key_that_does_not_parse_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kuma-cp.yaml");
    let yaml = "apiServer:\n  authn:\n    tokens:\n      validator:\n        publicKeys:\n        - kid: broken-1\n          key: |\n            -----BEGIN PUBLIC KEY-----\n            bm90IGEga2V5\n            -----END PUBLIC KEY-----\n";
    std::fs::write(&file, yaml).unwrap();
    let config = shared::testing::cp::config_with_file(&dir.path().join("work"), &file, &[]);
    let err = zone::App::build(config).await.err().unwrap();
    let chain = format!("{err:#}");
    assert!(chain.contains("\"broken-1\""), "{chain}");
    assert!(chain.contains("apiServer.authn.tokens.validator.publicKeys"), "{chain}");
}
