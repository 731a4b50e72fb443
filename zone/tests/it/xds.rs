//! ADS on the DP server of an in-process zone, spoken to by a tonic client as Envoy speaks it:
//! authentication, configuration pushed when policies change (timed), ACK and NACK accounting,
//! the insight and the config dump, revocation. Real Envoy processes are in `envoy.rs`.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::rbac::v3::Rbac;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use kuma_core::net::ChannelSettings;
use prost::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{eventually, http_client};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Streaming};

use super::dp_server::{Zone, jti};

const WAIT: Duration = Duration::from_secs(10);
const CDS: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const EDS: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
const LDS: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";

/// A STRICT mesh `default` with `web` (HTTP, calls backend) and `backend` (TCP).
pub(super) async fn two_services(zone: &Zone, mode: &str) {
    let mtls = match mode {
        "off" => json!(null),
        mode => {
            json!({"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin", "mode": mode}]})
        }
    };
    zone.put("/meshes/default", json!({"type": "Mesh", "name": "default", "mtls": mtls})).await;
    zone.put(
        "/meshes/default/dataplanes/backend",
        json!({"type": "Dataplane", "mesh": "default", "name": "backend", "networking": {
            "address": "127.0.0.1",
            "inbound": [{"port": 9090, "servicePort": 9091, "tags": {"kuma.io/service": "backend"}}]}}),
    )
    .await;
    zone.put(
        "/meshes/default/dataplanes/web",
        json!({"type": "Dataplane", "mesh": "default", "name": "web", "networking": {
            "address": "127.0.0.1",
            "inbound": [{"port": 8080, "servicePort": 8081, "tags": {"kuma.io/service": "web", "kuma.io/protocol": "http"}}],
            "outbound": [{"port": 10001, "tags": {"kuma.io/service": "backend"}}]}}),
    )
    .await;
}

pub(super) fn allow_web_to_backend() -> Value {
    json!({"type": "TrafficPermission", "mesh": "default", "name": "web-to-backend",
        "sources": [{"match": {"kuma.io/service": "web"}}],
        "destinations": [{"match": {"kuma.io/service": "backend"}}]})
}

async fn client(zone: &Zone) -> AggregatedDiscoveryServiceClient<Channel> {
    let settings = ChannelSettings {
        address: format!("grpcs://localhost:{}", zone.dp_server.port()),
        root_ca: Some(zone.ca.clone()),
        skip_verify: false,
        identity: None,
        local_ip: None,
    };
    AggregatedDiscoveryServiceClient::new(kuma_core::net::connect(&settings).await.unwrap())
}

fn node(id: &str) -> Option<Node> {
    Some(Node { id: id.to_owned(), cluster: "backend".to_owned(), ..Default::default() })
}

/// A state-of-the-world stream.
struct Sotw {
    tx: mpsc::Sender<DiscoveryRequest>,
    rx: Streaming<DiscoveryResponse>,
}

impl Sotw {
    async fn open(zone: &Zone, token: Option<&str>, id: &str) -> Result<Self, tonic::Status> {
        let (tx, rx) = mpsc::channel(16);
        for type_url in [CDS, LDS] {
            let first = DiscoveryRequest {
                node: node(id),
                type_url: type_url.to_owned(),
                ..Default::default()
            };
            tx.send(first).await.unwrap();
        }
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        if let Some(token) = token {
            request.metadata_mut().insert("authorization", token.parse().unwrap());
        }
        let rx = client(zone).await.stream_aggregated_resources(request).await?.into_inner();
        Ok(Self { tx, rx })
    }

    async fn next(&mut self) -> Result<DiscoveryResponse, tonic::Status> {
        let message =
            tokio::time::timeout(WAIT, self.rx.message()).await.expect("a response in time");
        Ok(message?.expect("the stream is open"))
    }

    async fn ack(&self, response: &DiscoveryResponse) {
        self.reply(response, None).await;
    }

    async fn reply(&self, response: &DiscoveryResponse, error: Option<&str>) {
        let request = DiscoveryRequest {
            version_info: response.version_info.clone(),
            type_url: response.type_url.clone(),
            response_nonce: response.nonce.clone(),
            error_detail: error.map(|e| RpcStatus {
                code: 3,
                message: e.to_owned(),
                details: vec![],
            }),
            ..Default::default()
        };
        self.tx.send(request).await.unwrap();
    }

    /// Reads and ACKs responses until one of `type_url` arrives; returns it.
    async fn until(&mut self, type_url: &str) -> DiscoveryResponse {
        loop {
            let response = self.next().await.unwrap();
            self.ack(&response).await;
            if response.type_url == type_url {
                return response;
            }
        }
    }
}

fn listeners(response: &DiscoveryResponse) -> Vec<Listener> {
    response.resources.iter().map(|any| Listener::decode(any.value.as_slice()).unwrap()).collect()
}

/// The network RBAC policy names on the first chain of listener `name`.
fn rbac_policies(listeners: &[Listener], name: &str) -> Vec<String> {
    let listener = listeners.iter().find(|l| l.name == name).unwrap();
    let filter = &listener.filter_chains[0].filters[0];
    assert_eq!(filter.name, "envoy.filters.network.rbac");
    let Some(filter::ConfigType::TypedConfig(any)) = &filter.config_type else { panic!() };
    let rbac = Rbac::decode(any.value.as_slice()).unwrap();
    let mut names: Vec<String> = rbac.rules.unwrap().policies.into_keys().collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_traffic_permission_change_is_pushed_at_once_and_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let flush = [("KUMA_XDS_DATAPLANE_STATUS_FLUSH_INTERVAL", "100ms")];
    let zone = Zone::start_with(dir.path(), &flush).await;
    two_services(&zone, "STRICT").await;
    let token = zone.token(json!({"name": "backend", "mesh": "default"})).await;
    let mut stream = Sotw::open(&zone, Some(&token), "default.backend").await.unwrap();
    let clusters = stream.until(CDS).await;
    assert_eq!(clusters.resources.len(), 1, "localhost:9091 only");
    let lds = stream.until(LDS).await;
    assert_eq!(rbac_policies(&listeners(&lds), "inbound:127.0.0.1:9090"), Vec::<String>::new());

    let started = Instant::now();
    zone.put("/meshes/default/traffic-permissions/web-to-backend", allow_web_to_backend()).await;
    let lds = stream.until(LDS).await;
    let took = started.elapsed();
    assert_eq!(rbac_policies(&listeners(&lds), "inbound:127.0.0.1:9090"), ["web-to-backend"]);
    assert!(took < Duration::from_secs(1), "pushed in {took:?}");

    let resp = http_client()
        .delete(format!("{}/meshes/default/traffic-permissions/web-to-backend", zone.api))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let lds = stream.until(LDS).await;
    assert_eq!(rbac_policies(&listeners(&lds), "inbound:127.0.0.1:9090"), Vec::<String>::new());

    // The insight and the metrics count what was sent and acknowledged.
    let status = eventually("the insight counts the LDS responses", WAIT, || async {
        let (_, overview) = zone.get("/meshes/default/dataplanes/backend/_overview").await;
        let subs =
            overview["dataplaneInsight"]["subscriptions"].as_array().cloned().unwrap_or_default();
        let status = subs.iter().find_map(|s| s.get("status").cloned())?;
        (status["lds"]["responsesAcknowledged"] == "3").then_some(status)
    })
    .await;
    assert_eq!(status["lds"]["responsesSent"], "3", "{status}");
    let metrics = zone.metrics().await;
    assert!(metrics.contains("kuma_xds_responses_sent_total{type=\"lds\"} 3"), "{metrics}");
    assert!(metrics.contains("kuma_xds_streams 1"), "{metrics}");
    assert!(metrics.contains("kuma_xds_generation_seconds_count"), "{metrics}");

    // The config dump shows what was sent, with versions.
    let (code, dump) = zone.get("/meshes/default/dataplanes/backend/xds").await;
    assert_eq!(code, StatusCode::OK);
    let listener = &dump["configs"][0]["dynamic_listeners"][0];
    assert_eq!(listener["name"], "inbound:127.0.0.1:9090");
    assert!(!listener["active_state"]["version_info"].as_str().unwrap().is_empty());
    assert!(!dump.to_string().contains("private_key"));
    let (code, _) = zone.get("/meshes/default/dataplanes/web/xds").await;
    assert_eq!(code, StatusCode::NOT_FOUND, "web has no ADS stream");
    drop(stream);
    zone.stop().await;
}

/// An incremental stream.
struct Delta {
    tx: mpsc::Sender<DeltaDiscoveryRequest>,
    rx: Streaming<DeltaDiscoveryResponse>,
}

impl Delta {
    async fn open(zone: &Zone, token: &str, id: &str) -> Self {
        let (tx, rx) = mpsc::channel(16);
        for type_url in [CDS, LDS] {
            let first = DeltaDiscoveryRequest {
                node: node(id),
                type_url: type_url.to_owned(),
                ..Default::default()
            };
            tx.send(first).await.unwrap();
        }
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        request.metadata_mut().insert("authorization", token.parse().unwrap());
        let rx = client(zone).await.delta_aggregated_resources(request).await.unwrap().into_inner();
        Self { tx, rx }
    }

    async fn next(&mut self) -> DeltaDiscoveryResponse {
        let message =
            tokio::time::timeout(WAIT, self.rx.message()).await.expect("a response in time");
        message.unwrap().expect("the stream is open")
    }

    async fn reply(
        &self,
        response: &DeltaDiscoveryResponse,
        error: Option<&str>,
        subscribe: &[String],
    ) {
        let request = DeltaDiscoveryRequest {
            type_url: response.type_url.clone(),
            response_nonce: response.nonce.clone(),
            resource_names_subscribe: subscribe.to_vec(),
            error_detail: error.map(|e| RpcStatus {
                code: 3,
                message: e.to_owned(),
                details: vec![],
            }),
            ..Default::default()
        };
        self.tx.send(request).await.unwrap();
    }
}

#[tokio::test]
async fn a_nacked_config_is_recorded_and_not_sent_again_until_something_changes() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    two_services(&zone, "STRICT").await;
    let token = zone.token(json!({"name": "web", "mesh": "default"})).await;
    let mut stream = Delta::open(&zone, &token, "default.web").await;
    let cds = stream.next().await;
    assert_eq!(cds.type_url, CDS);
    let names: Vec<&str> = cds.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["backend", "localhost:8081"]);
    // Envoy subscribes to the endpoints of its EDS cluster when it ACKs the clusters.
    stream.reply(&cds, None, &[]).await;
    let eds_request = DeltaDiscoveryRequest {
        type_url: EDS.to_owned(),
        resource_names_subscribe: vec!["backend".to_owned()],
        ..Default::default()
    };
    stream.tx.send(eds_request).await.unwrap();
    let lds = stream.next().await;
    assert_eq!(lds.type_url, LDS);
    stream.reply(&lds, Some("listener rejected for the test"), &[]).await;
    let eds = stream.next().await;
    assert_eq!(eds.type_url, EDS);
    assert_eq!(eds.resources[0].name, "backend");
    stream.reply(&eds, None, &[]).await;

    // A change of the endpoints only: EDS is sent, the rejected listeners are not.
    zone.put(
        "/meshes/default/dataplanes/backend-2",
        json!({"type": "Dataplane", "mesh": "default", "name": "backend-2", "networking": {
            "address": "127.0.0.2", "inbound": [{"port": 9090, "tags": {"kuma.io/service": "backend"}}]}}),
    )
    .await;
    let next = stream.next().await;
    assert_eq!(next.type_url, EDS, "the NACKed LDS is not sent again");
    stream.reply(&next, None, &[]).await;
    let metrics = zone.metrics().await;
    assert!(metrics.contains("kuma_xds_responses_rejected_total{type=\"lds\"} 1"), "{metrics}");
    let status = eventually("the insight records the rejection", WAIT, || async {
        let (_, overview) = zone.get("/meshes/default/dataplanes/web/_overview").await;
        let subs =
            overview["dataplaneInsight"]["subscriptions"].as_array().cloned().unwrap_or_default();
        let status = subs.iter().find_map(|s| s.get("status").cloned())?;
        (status["lds"]["responsesRejected"] == "1").then_some(status)
    })
    .await;
    assert_eq!(status["lds"]["lastRejection"], "listener rejected for the test");

    // A change of the listeners sends them again.
    zone.put(
        "/meshes/default/dataplanes/web",
        json!({"type": "Dataplane", "mesh": "default", "name": "web", "networking": {
            "address": "127.0.0.1",
            "inbound": [{"port": 8080, "servicePort": 8081, "tags": {"kuma.io/service": "web", "kuma.io/protocol": "http"}}],
            "outbound": [{"port": 10002, "tags": {"kuma.io/service": "backend"}}]}}),
    )
    .await;
    let lds = loop {
        let next = stream.next().await;
        stream.reply(&next, None, &[]).await;
        if next.type_url == LDS {
            break next;
        }
    };
    let names: Vec<&str> = lds.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["outbound:127.0.0.1:10002"], "only what changed");
    assert_eq!(lds.removed_resources, ["outbound:127.0.0.1:10001"]);
    drop(stream);
    zone.stop().await;
}

#[tokio::test]
async fn ads_checks_the_token_and_revocation_closes_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    two_services(&zone, "STRICT").await;
    let err = Sotw::open(&zone, None, "default.backend").await.err().unwrap();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("exactly 1 \"authorization\" header"), "{}", err.message());
    let web_token = zone.token(json!({"name": "web", "mesh": "default"})).await;
    let err = Sotw::open(&zone, Some(&web_token), "default.backend").await.err().unwrap();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    let err = Sotw::open(&zone, Some(&web_token), "default.nobody").await.err().unwrap();
    assert_eq!(err.code(), Code::NotFound, "{err}");
    let err = Sotw::open(&zone, Some(&web_token), "no-dot").await.err().unwrap();
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");

    let token = zone.token(json!({"name": "backend", "mesh": "default"})).await;
    let mut stream = Sotw::open(&zone, Some(&token), "default.backend").await.unwrap();
    stream.until(LDS).await;
    let data = STANDARD.encode(jti(&token));
    zone.put(
        "/global-secrets/dataplane-token-revocations-default",
        json!({"type": "GlobalSecret", "name": "dataplane-token-revocations-default", "data": data}),
    )
    .await;
    let started = Instant::now();
    let err = loop {
        match stream.next().await {
            Ok(_) => continue,
            Err(err) => break err,
        }
    };
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("token is revoked"), "{}", err.message());
    zone.stop().await;
}

#[tokio::test]
async fn inbounds_colliding_on_a_port_are_reported_on_the_insight() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.put("/meshes/default", json!({"type": "Mesh", "name": "default"})).await;
    let twice = json!({"networking": {"address": "127.0.0.1", "inbound": [
        {"port": 9090, "tags": {"kuma.io/service": "a"}},
        {"port": 9090, "servicePort": 9091, "tags": {"kuma.io/service": "b"}}]}});
    // The API refuses it now (issue 16); one stored before that rule is still served, so it is
    // written straight into the store, as it was left there.
    let mut resource = twice.clone();
    resource["type"] = json!("Dataplane");
    resource["mesh"] = json!("default");
    resource["name"] = json!("twice");
    let resp = shared::testing::cp::http_client()
        .put(format!("{}/meshes/default/dataplanes/twice", zone.api))
        .json(&resource)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "two inbounds on one port are refused by the API");
    let key = store::Key::mesh_scoped("Dataplane", "default", "twice");
    zone.store.create(key, twice, Default::default()).await.unwrap();
    let token = zone.token(json!({"name": "twice", "mesh": "default"})).await;
    let mut stream = Sotw::open(&zone, Some(&token), "default.twice").await.unwrap();
    let lds = stream.until(LDS).await;
    assert_eq!(listeners(&lds).len(), 1, "the first inbound keeps the port");
    let warnings = eventually("the insight names the colliding inbound", WAIT, || async {
        let (_, overview) = zone.get("/meshes/default/dataplanes/twice/_overview").await;
        let subs = overview["dataplaneInsight"]["subscriptions"].as_array().cloned()?;
        subs.iter().find_map(|s| s["status"]["warnings"].as_array().cloned())
    })
    .await;
    assert_eq!(warnings.len(), 1);
    let warning = warnings[0].as_str().unwrap();
    assert!(warning.starts_with("networking.inbound[1].port: 127.0.0.1:9090"), "{warning}");
    drop(stream);
    zone.stop().await;
}
