//! MeshTrafficPermission through kumactl (apply with Kuma's validation messages, get, delete)
//! and `kumactl inspect dataplane --type=config-dump` of a proxy with an ADS stream, against a
//! real zone in-process.

use std::path::Path;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use kuma_core::net::ChannelSettings;
use serde_json::Value;
use testkit::Zone;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::helpers::{connect, kumactl, stderr, stdout};

const MESH_AND_DATAPLANE: &str = "\
type: Mesh
name: demo
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
---
type: Dataplane
mesh: demo
name: web
networking:
  address: 127.0.0.1
  inbound:
  - port: 8080
    tags:
      kuma.io/service: web
";

const PERMISSION: &str = "\
type: MeshTrafficPermission
mesh: demo
name: allow-frontend
spec:
  targetRef:
    kind: MeshService
    name: web
  from:
  - targetRef:
      kind: MeshService
      name: frontend
    default:
      action: Allow
";

async fn apply(dir: &Path, yaml: &str) -> std::process::Output {
    let file = dir.join("resources.yaml");
    std::fs::write(&file, yaml).unwrap();
    kumactl(dir, &["apply", "-f", file.to_str().unwrap()]).await
}

#[tokio::test]
async fn mesh_traffic_permissions_apply_list_and_reach_the_proxy_config_dump() {
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().join("work");
    let cp = Zone::start(&work_dir, &[]).await;
    connect(dir.path(), &cp, &cp.ca).await;
    let out = apply(dir.path(), MESH_AND_DATAPLANE).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = apply(dir.path(), PERMISSION).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kumactl(dir.path(), &["get", "meshtrafficpermissions", "-m", "demo"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).lines().any(|l| l.starts_with("demo ") && l.contains("allow-frontend")));

    let bad = PERMISSION.replace("      action: Allow\n", "      action: Maybe\n");
    let out = apply(dir.path(), &bad).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("spec.from[0].default.action"), "{}", stderr(&out));
    let bad =
        PERMISSION.replace("    name: web\n", "    name: web\n    tags:\n      version: v1\n");
    let out = apply(dir.path(), &bad).await;
    assert!(
        stderr(&out).contains("spec.targetRef.tags: must not be set with kind MeshService"),
        "{}",
        stderr(&out)
    );

    // Without an ADS stream there is nothing to show.
    let inspect = ["inspect", "dataplane", "web", "-m", "demo", "--type=config-dump"];
    let out = kumactl(dir.path(), &inspect).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("has no Envoy connected"), "{}", stderr(&out));

    // An ADS stream as Envoy opens it; its configuration shows the permission's RBAC.
    let token = kumactl(
        dir.path(),
        &["generate", "dataplane-token", "--name", "web", "--mesh", "demo", "--valid-for", "1h"],
    )
    .await;
    assert!(token.status.success(), "{}", stderr(&token));
    let token = stdout(&token).trim().to_owned();
    let settings = ChannelSettings {
        address: format!("grpcs://localhost:{}", cp.dp_server.port()),
        root_ca: Some(cp.ca.clone()),
        skip_verify: false,
        identity: None,
        local_ip: None,
    };
    let mut client =
        AggregatedDiscoveryServiceClient::new(kuma_core::net::connect(&settings).await.unwrap());
    let (tx, rx) = mpsc::channel(4);
    let node = Node { id: "demo.web".to_owned(), ..Default::default() };
    let lds = "type.googleapis.com/envoy.config.listener.v3.Listener";
    tx.send(DiscoveryRequest { node: Some(node), type_url: lds.to_owned(), ..Default::default() })
        .await
        .unwrap();
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("authorization", token.parse().unwrap());
    let mut stream = client.stream_aggregated_resources(request).await.unwrap().into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap();
    assert_eq!(first.unwrap().unwrap().resources.len(), 1);

    let out = kumactl(dir.path(), &inspect).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let dump: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let text = dump.to_string();
    assert!(text.contains("\"inbound:127.0.0.1:8080\""), "{text}");
    assert!(
        text.contains("spiffe://demo/frontend"),
        "the MeshTrafficPermission's principal: {text}"
    );

    let out =
        kumactl(dir.path(), &["delete", "meshtrafficpermission", "allow-frontend", "-m", "demo"])
            .await;
    assert!(out.status.success(), "{}", stderr(&out));
    drop(tx);
    cp.stop().await;
}
