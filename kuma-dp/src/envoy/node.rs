//! Who the proxy is to Envoy and to the control plane's generator: the bootstrap's `node`
//! (`id` `<mesh>.<name>`, `.<name>` for a zone ingress; `cluster` the first `kuma.io/service`)
//! and its metadata, in Kuma's keys where Kuma has them.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::cli::{ProxyType, RunConfig};
use crate::envoy::binary::Binary;

/// The bootstrap's `node`.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// `node.id`.
    pub id: String,
    /// `node.cluster`, when known.
    pub cluster: Option<String>,
    /// `node.metadata`.
    pub metadata: Map<String, Value>,
}

/// Where the proxy's local endpoints are, for the metadata.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    /// The work directory.
    pub work_dir: &'a Path,
    /// Envoy's admin socket.
    pub admin_socket: &'a Path,
    /// kuma-dp's SDS socket.
    pub sds_socket: &'a Path,
    /// The port the readiness endpoint is bound to.
    pub readiness_port: u16,
}

impl Node {
    /// The node of the proxy `config` describes.
    pub fn new(config: &RunConfig, binary: &Binary, local: Local<'_>) -> Self {
        let proxy_type = match config.proxy_type {
            ProxyType::Dataplane => "dataplane",
            ProxyType::Ingress => "ingress",
        };
        let mut dataplane = json!({
            "proxyType": proxy_type,
            "admin": {"socketPath": local.admin_socket},
            "readinessReporter": {"port": local.readiness_port.to_string()},
            "sdsSocketPath": local.sds_socket,
        });
        if !config.resource_json.is_empty() {
            dataplane["resource"] = Value::String(config.resource_json.clone());
        }
        let version = json!({
            "kumaDp": {"version": env!("CARGO_PKG_VERSION")},
            "envoy": {"version": binary.version.to_string(), "build": binary.build},
        });
        Self {
            id: format!("{}.{}", config.mesh, config.name),
            cluster: cluster(config.proxy_type, &config.resource_json),
            metadata: Map::from_iter([
                ("dataplane".to_owned(), dataplane),
                ("version".to_owned(), version),
                ("workdir".to_owned(), json!(local.work_dir)),
            ]),
        }
    }
}

/// `ingress` for a zone ingress, else the first inbound's (or the gateway's) `kuma.io/service`
/// in the inline Dataplane.
fn cluster(proxy_type: ProxyType, resource_json: &str) -> Option<String> {
    if proxy_type == ProxyType::Ingress {
        return Some("ingress".to_owned());
    }
    let resource: Value = serde_json::from_str(resource_json).ok()?;
    let networking = &resource["networking"];
    let tags = match networking["inbound"].get(0) {
        Some(inbound) => &inbound["tags"],
        None => &networking["gateway"]["tags"],
    };
    tags["kuma.io/service"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_is_the_first_service_or_ingress() {
        let inbound = json!({"networking": {"inbound": [
            {"tags": {"kuma.io/service": "web"}}, {"tags": {"kuma.io/service": "admin"}}]}});
        assert_eq!(cluster(ProxyType::Dataplane, &inbound.to_string()).as_deref(), Some("web"));
        let gateway = json!({"networking": {"gateway": {"tags": {"kuma.io/service": "edge"}}}});
        assert_eq!(cluster(ProxyType::Dataplane, &gateway.to_string()).as_deref(), Some("edge"));
        assert_eq!(cluster(ProxyType::Dataplane, ""), None, "the Dataplane is stored in the CP");
        assert_eq!(cluster(ProxyType::Ingress, "").as_deref(), Some("ingress"));
    }
}
