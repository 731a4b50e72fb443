//! The monitoring assignment server (MADS, `KUMA_MONITORING_ASSIGNMENT_SERVER_PORT`, 5676): the
//! HTTP endpoint Prometheus's `kuma_sd_configs` polls, `POST /v3/discovery:monitoringassignments`.
//! It answers an xDS `DiscoveryResponse` in protojson whose resources are
//! `kuma.observability.v1.MonitoringAssignment`s: one per Dataplane of a mesh whose metrics
//! backend is Prometheus, with the proxy's scrape address, path and tags.
//!
//! A request that carries the current `versionInfo` is held until the assignments change or the
//! fetch timeout (`KUMA_MONITORING_ASSIGNMENT_SERVER_DEFAULT_FETCH_TIMEOUT`, 30s) passes (then
//! `304 Not Modified`), as Prometheus expects. TLS (server only, as in Kuma) when
//! `KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED=true`, with the MADS or the CP certificate,
//! either following its files. This module reads the store; it never writes.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use kuma_core::resources::{DataplaneSpec, MeshSpec, ResourceType, SERVICE_TAG, Spec, strict};
use kuma_core::shutdown::Shutdown;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use shared::api::serve::{self, ConnLimits};
use shared::net::{self, ClientCerts, Listener, ServerTls};
use shared::runtime::{Runtime, tls_options};
use store::Store;

/// The xDS type of a monitoring assignment.
pub const TYPE_URL: &str = "type.googleapis.com/kuma.observability.v1.MonitoringAssignment";
/// Kuma's read header timeout for MADS.
const READ_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// Kuma's default Prometheus port and path.
const DEFAULT_PORT: u64 = 5670;
const DEFAULT_PATH: &str = "/metrics";

/// The bound MADS listener, not serving yet.
pub struct Mads {
    listener: Listener,
    fetch_timeout: Duration,
}

impl Mads {
    /// Binds the MADS port when MADS is enabled.
    pub async fn bind(runtime: &Runtime) -> anyhow::Result<Option<Self>> {
        let config = &runtime.config().monitoring_assignment_server;
        if !config.enabled {
            return Ok(None);
        }
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), config.port);
        let mut builder = Listener::builder("mads", addr);
        if config.tls_enabled {
            let cert = runtime
                .server_cert(config.tls_files.as_ref())
                .context("loading the MADS certificate")?;
            let options = tls_options(&config.tls);
            let alpn = net::ALPN_H2_HTTP1;
            builder =
                builder.tls(ServerTls { cert, options, alpn, client_certs: ClientCerts::None });
        }
        let services = runtime.services();
        let listener = builder
            .bind(services.metrics.clone(), services.audit.clone())
            .await
            .with_context(|| format!("binding the monitoring assignment server on {addr}"))?;
        Ok(Some(Self { listener, fetch_timeout: config.default_fetch_timeout }))
    }

    /// Where MADS listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` fires.
    pub async fn serve(self, store: Store, shutdown: Shutdown) {
        let state = Served { store, fetch_timeout: self.fetch_timeout };
        let router = Router::new()
            .route("/v3/discovery:monitoringassignments", post(fetch))
            .with_state(state);
        let limits = ConnLimits { read_header_timeout: READ_HEADER_TIMEOUT };
        serve::serve(self.listener, router, limits, shutdown).await;
    }
}

#[derive(Clone)]
struct Served {
    store: Store,
    fetch_timeout: Duration,
}

/// The parts of an xDS `DiscoveryRequest` MADS reads (protojson accepts both spellings).
#[derive(Debug, Default, Deserialize)]
struct DiscoveryRequest {
    #[serde(default, alias = "version_info", rename = "versionInfo")]
    version_info: String,
    #[serde(default, alias = "type_url", rename = "typeUrl")]
    type_url: String,
}

async fn fetch(State(state): State<Served>, body: axum::body::Bytes) -> Response {
    // Never positionally: `["1", "type"]` is not a DiscoveryRequest.
    let request = serde_json::from_slice(&body)
        .map_err(|err| err.to_string())
        .and_then(|value| strict::parse::<DiscoveryRequest>(value).map_err(|err| err.to_string()));
    let request = match request {
        Ok(request) => request,
        Err(err) => {
            let message = format!("the body is not a DiscoveryRequest: {err}");
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    if !request.type_url.is_empty() && request.type_url != TYPE_URL {
        let message = format!("typeUrl must be {TYPE_URL:?}, got {:?}", request.type_url);
        return (StatusCode::BAD_REQUEST, message).into_response();
    }
    // Subscribe before reading, so that no change between the read and the wait is missed.
    let mut changes = state.store.changes();
    let deadline = tokio::time::Instant::now() + state.fetch_timeout;
    loop {
        let (version, resources) = match assignments(&state.store).await {
            Ok(current) => current,
            Err(err) => {
                tracing::error!(error = %err, "MADS could not read the store");
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        };
        if version != request.version_info {
            let response = json!({
                "versionInfo": version,
                "resources": resources,
                "typeUrl": TYPE_URL,
                "nonce": version,
            });
            return Json(response).into_response();
        }
        // Wait for a change of what the assignments are made of.
        let relevant = async {
            loop {
                match changes.recv().await {
                    Some(event)
                        if event.touches(ResourceType::Mesh)
                            || event.touches(ResourceType::Dataplane) =>
                    {
                        return;
                    }
                    Some(_) => {}
                    None => return,
                }
            }
        };
        if tokio::time::timeout_at(deadline, relevant).await.is_err() {
            return StatusCode::NOT_MODIFIED.into_response();
        }
    }
}

/// Every assignment, and a version that changes exactly when they do.
async fn assignments(store: &Store) -> Result<(String, Vec<Value>), store::Error> {
    let mut backends = BTreeMap::new();
    for record in store.list(ResourceType::Mesh.name(), None).await? {
        if let Ok(Spec::Mesh(mesh)) = Spec::from_value(ResourceType::Mesh, record.spec)
            && let Some(backend) = prometheus_backend(&mesh)
        {
            backends.insert(record.key.name, backend);
        }
    }
    let mut resources = Vec::new();
    for record in store.list(ResourceType::Dataplane.name(), None).await? {
        let Some(backend) = backends.get(&record.key.mesh) else {
            continue;
        };
        let Ok(Spec::Dataplane(dp)) = Spec::from_value(ResourceType::Dataplane, record.spec) else {
            continue;
        };
        if let Some(assignment) = assignment(&record.key.mesh, &record.key.name, &dp, backend) {
            resources.push(assignment);
        }
    }
    let bytes = serde_json::to_vec(&resources).unwrap_or_default();
    let version = shared::kds::content_version(&bytes);
    Ok((version, resources))
}

/// The enabled backend's `conf` when it is a Prometheus backend.
fn prometheus_backend(mesh: &MeshSpec) -> Option<Map<String, Value>> {
    let metrics = mesh.metrics.as_ref()?;
    let enabled = metrics.get("enabledBackend")?.as_str()?;
    let backends = metrics.get("backends")?.as_array()?;
    let backend =
        backends.iter().find(|b| b.get("name").and_then(Value::as_str) == Some(enabled))?;
    if backend.get("type").and_then(Value::as_str) != Some("prometheus") {
        return None;
    }
    Some(backend.get("conf").and_then(Value::as_object).cloned().unwrap_or_default())
}

/// The assignment of one Dataplane: the mesh's Prometheus settings, overridden by the
/// Dataplane's own `metrics` section.
fn assignment(
    mesh: &str,
    name: &str,
    dp: &DataplaneSpec,
    mesh_conf: &Map<String, Value>,
) -> Option<Value> {
    let networking = dp.networking.as_ref()?;
    let own = dp.metrics.as_ref().and_then(|m| m.get("conf")).and_then(Value::as_object);
    let setting = |key: &str| own.and_then(|c| c.get(key)).or_else(|| mesh_conf.get(key));
    let port = setting("port").and_then(Value::as_u64).unwrap_or(DEFAULT_PORT);
    let path = setting("path").and_then(Value::as_str).unwrap_or(DEFAULT_PATH);
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let inbound_tags = networking.inbound.iter().map(|i| &i.tags);
    for (key, value) in inbound_tags.chain(networking.gateway.iter().map(|g| &g.tags)).flatten() {
        let values = tags.entry(key.clone()).or_default();
        if !values.contains(value) {
            values.push(value.clone());
        }
    }
    let service = tags.get(SERVICE_TAG).and_then(|v| v.first()).cloned().unwrap_or_default();
    let mut labels: Map<String, Value> =
        tags.into_iter().map(|(k, v)| (k, Value::from(v.join(",")))).collect();
    if let Some(extra) = setting("tags").and_then(Value::as_object) {
        labels.extend(extra.clone());
    }
    let host = match networking.address.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => networking.address.clone(),
    };
    Some(json!({
        "@type": TYPE_URL,
        "mesh": mesh,
        "service": service,
        "targets": [{
            "name": name,
            "scheme": "http",
            "address": format!("{host}:{port}"),
            "metricsPath": path,
            "labels": labels,
        }],
        "labels": {},
    }))
}
