//! The monitoring assignment server of an in-process zone, polled as Prometheus's
//! `kuma_sd_configs` polls it: over TLS when enabled, with long polling on the version.

use std::time::Duration;

use kuma_core::shutdown;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{config, http_client, https_client};

const TYPE_URL: &str = "type.googleapis.com/kuma.observability.v1.MonitoringAssignment";

fn dataplane(name: &str, address: &str, metrics: Option<Value>) -> Value {
    let mut dp = json!({"type": "Dataplane", "mesh": "default", "name": name, "networking": {
        "address": address,
        "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web", "version": "v1"}}]}});
    if let Some(metrics) = metrics {
        dp["metrics"] = metrics;
    }
    dp
}

#[tokio::test]
async fn mads_answers_over_tls_with_the_prometheus_targets_and_long_polls() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED", "true")];
    let app = zone::App::build(config(dir.path(), &env)).await.unwrap();
    let api = format!("http://localhost:{}", app.addresses().http.unwrap().port());
    let mads = format!(
        "https://localhost:{}/v3/discovery:monitoringassignments",
        app.mads_addr().expect("MADS is on by default").port()
    );
    let (trigger, shutdown) = shutdown::channel();
    let task = tokio::spawn(app.run(shutdown));
    let put = |path: String, body: Value| {
        let api = api.clone();
        async move {
            let resp = http_client().put(format!("{api}{path}")).json(&body).send().await.unwrap();
            assert!(resp.status().is_success(), "{path}: {}", resp.text().await.unwrap());
        }
    };
    put(
        "/meshes/default".into(),
        json!({"type": "Mesh", "name": "default", "metrics": {"enabledBackend": "prom-1",
            "backends": [{"name": "prom-1", "type": "prometheus",
                "conf": {"port": 5670, "path": "/metrics", "tags": {"team": "infra"}}}]}}),
    )
    .await;
    put("/meshes/default/dataplanes/web-1".into(), dataplane("web-1", "10.0.0.1", None)).await;
    let own = json!({"type": "prometheus", "conf": {"port": 9090, "path": "/stats"}});
    put("/meshes/default/dataplanes/web-2".into(), dataplane("web-2", "10.0.0.2", Some(own))).await;
    // A mesh without a metrics backend gives no targets.
    put("/meshes/quiet".into(), json!({"type": "Mesh", "name": "quiet"})).await;
    let mut quiet = dataplane("db-1", "10.0.0.3", None);
    quiet["mesh"] = json!("quiet");
    put("/meshes/quiet/dataplanes/db-1".into(), quiet).await;

    let client = https_client(&dir.path().join("kuma-cp.crt"));
    let request = json!({"versionInfo": "", "node": {"id": "prometheus"}, "typeUrl": TYPE_URL});
    let resp = client.post(&mads).json(&request).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["typeUrl"], TYPE_URL);
    let resources = body["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2, "{body}");
    let target = |i: usize| resources[i]["targets"][0].clone();
    assert_eq!(resources[0]["@type"], TYPE_URL);
    assert_eq!(resources[0]["mesh"], "default");
    assert_eq!(resources[0]["service"], "web");
    assert_eq!(target(0)["name"], "web-1");
    assert_eq!(target(0)["address"], "10.0.0.1:5670");
    assert_eq!(target(0)["metricsPath"], "/metrics");
    assert_eq!(target(0)["labels"]["version"], "v1");
    assert_eq!(target(0)["labels"]["team"], "infra");
    assert_eq!(target(1)["address"], "10.0.0.2:9090", "the Dataplane's own port wins");
    assert_eq!(target(1)["metricsPath"], "/stats");

    // With the current version the request is held until the targets change.
    let version = body["versionInfo"].as_str().unwrap().to_owned();
    let held = json!({"versionInfo": version, "typeUrl": TYPE_URL});
    let mut poll = tokio::spawn({
        let (client, mads) = (client.clone(), mads.clone());
        async move { client.post(&mads).json(&held).send().await.unwrap() }
    });
    let early = tokio::time::timeout(Duration::from_millis(300), &mut poll).await;
    assert!(early.is_err(), "an unchanged version is held");
    put("/meshes/default/dataplanes/web-3".into(), dataplane("web-3", "10.0.0.4", None)).await;
    let resp = tokio::time::timeout(Duration::from_secs(5), poll).await.unwrap().unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_ne!(body["versionInfo"], version);
    assert_eq!(body["resources"].as_array().unwrap().len(), 3);

    // Bad input is refused with the reason; plain HTTP does not reach a TLS listener.
    let resp = client.post(&mads).body("{").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = client.post(&mads).json(&json!(["", TYPE_URL])).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("expected an object"));
    let resp = client.post(&mads).json(&json!({"typeUrl": "Cluster"})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("typeUrl must be"));
    let plain = mads.replace("https://", "http://");
    assert!(http_client().post(&plain).json(&request).send().await.is_err());

    trigger.fire();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn mads_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("KUMA_MONITORING_ASSIGNMENT_SERVER_ENABLED", "false")];
    let app = zone::App::build(config(dir.path(), &env)).await.unwrap();
    assert_eq!(app.mads_addr(), None);
}

#[tokio::test]
async fn an_unchanged_version_gets_304_after_the_configured_fetch_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("KUMA_MONITORING_ASSIGNMENT_SERVER_DEFAULT_FETCH_TIMEOUT", "1s")];
    let app = zone::App::build(config(dir.path(), &env)).await.unwrap();
    let mads = format!(
        "http://localhost:{}/v3/discovery:monitoringassignments",
        app.mads_addr().unwrap().port()
    );
    let (trigger, shutdown) = shutdown::channel();
    let task = tokio::spawn(app.run(shutdown));
    let client = http_client();
    let first = json!({"versionInfo": "", "typeUrl": TYPE_URL});
    let body: Value = client.post(&mads).json(&first).send().await.unwrap().json().await.unwrap();
    let held = json!({"versionInfo": body["versionInfo"], "typeUrl": TYPE_URL});
    let started = std::time::Instant::now();
    let resp = client.post(&mads).json(&held).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    // Held for the timeout, not answered at once (the upper bound only guards against a hang).
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "answered after {waited:?}");
    assert!(waited < Duration::from_secs(8), "answered after {waited:?}");
    trigger.fire();
    task.await.unwrap().unwrap();
}
