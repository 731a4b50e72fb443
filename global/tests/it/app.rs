use kuma_core::shutdown;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{config, https_client};

#[tokio::test]
async fn global_takes_meshes_and_refuses_dataplanes() {
    let dir = tempfile::tempdir().unwrap();
    let app = global::App::build(config(dir.path(), &[("KUMA_MODE", "global")])).await.unwrap();
    let port = app.addresses().runtime.https.unwrap().port();
    let (trigger, shutdown) = shutdown::channel();
    let running = tokio::spawn(app.run(shutdown));
    let client = https_client(&dir.path().join("kuma-cp.crt"));
    let base = format!("https://localhost:{port}");

    let resp = client
        .put(format!("{base}/meshes/default"))
        .json(&json!({"type": "Mesh", "name": "default"}))
        .send()
        .await
        .unwrap();
    // The default mesh exists from the first start: this updates it.
    assert_eq!(resp.status(), StatusCode::OK);

    let dataplane = json!({
        "type": "Dataplane", "mesh": "default", "name": "dp-1",
        "networking": {"address": "127.0.0.1",
            "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]}
    });
    let resp = client
        .put(format!("{base}/meshes/default/dataplanes/dp-1"))
        .json(&dataplane)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = resp.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().starts_with("On global control plane"));

    let config: Value =
        client.get(format!("{base}/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["mode"], "global");

    trigger.fire();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn global_app_refuses_a_zone_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let err = global::App::build(config(dir.path(), &[])).await.err().unwrap();
    assert!(err.to_string().contains("KUMA_MODE=global"), "{err}");
}
