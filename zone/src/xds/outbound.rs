//! The outbound side of a proxy (reference §8): per `networking.outbound`, a listener
//! `outbound:<address>:<port>` (loopback by default) to an EDS cluster named after the service,
//! whose endpoints are the healthy inbounds of that service in the mesh view. A service without
//! endpoints still gets its listener and cluster; connections to it fail at once (no healthy
//! upstream) instead of hanging. With mTLS the cluster speaks mTLS to the other proxy.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{TrafficDirection, address, socket_address};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint as EnvoyEndpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::google::protobuf::UInt32Value;
use kuma_core::resources::SERVICE_TAG;

use super::envoy::{TAGS_METADATA, ads, host_port, network_filter, seconds, socket, tags_metadata};
use super::generate::Resources;
use super::http::{self, HCM, Routing};
use super::protocol::Protocol;
use super::tls;
use super::view::{Dataplane, Endpoint, MeshView, Mtls};

/// Metadata keys endpoints carry their tags under (load balancer subsets, socket matches).
const ENDPOINT_METADATA: [&str; 2] = ["envoy.lb", "envoy.transport_socket_match"];

/// Builds the listeners, clusters and endpoints of every outbound of `dp` into `out` (after
/// the inbounds, whose addresses an outbound must not take).
pub fn generate(view: &MeshView, dp: &Dataplane, out: &mut Resources, warnings: &mut Vec<String>) {
    let Some(net) = &dp.spec.networking else { return };
    let mut bound: BTreeSet<(IpAddr, u32)> =
        out.listeners.iter().filter_map(bound_address).collect();
    let mut clusters = BTreeSet::new();
    for (i, outbound) in net.outbound.iter().enumerate() {
        let field = format!("networking.outbound[{i}]");
        let Some(service) = outbound.tags.get(SERVICE_TAG) else {
            warnings
                .push(format!("{field}.backendRef: outbounds by backendRef are not supported yet"));
            continue;
        };
        let address = outbound.address.as_deref().filter(|a| !a.is_empty());
        let ip = match address.map(str::parse::<IpAddr>) {
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(Ok(ip)) => ip,
            Some(Err(_)) => {
                warnings.push(format!("{field}.address: {address:?} is not an IP address"));
                continue;
            }
        };
        if !bound.insert((ip, outbound.port)) {
            warnings.push(format!(
                "{field}.port: {} is already taken by another listener of this proxy; this \
                 outbound gets no listener",
                host_port(ip, outbound.port)
            ));
            continue;
        }
        let endpoints: Vec<&Endpoint> =
            view.endpoints(service).iter().filter(|e| selected(&outbound.tags, &e.tags)).collect();
        let protocol = endpoints
            .iter()
            .map(|e| Protocol::of(&e.tags))
            .reduce(Protocol::common)
            .unwrap_or(Protocol::Tcp);
        let name = cluster_name(service, &outbound.tags);
        if clusters.insert(name.clone()) {
            out.clusters.push(eds_cluster(view, &name, service, &outbound.tags));
            out.endpoints.push(load_assignment(&name, &endpoints));
        }
        out.listeners.push(listener(ip, outbound.port, service, &name, &outbound.tags, protocol));
    }
}

fn listener(
    ip: IpAddr,
    port: u32,
    service: &str,
    cluster: &str,
    tags: &BTreeMap<String, String>,
    protocol: Protocol,
) -> Listener {
    let filter = if protocol.is_http() {
        let routing =
            Routing { name: format!("outbound:{service}"), service, cluster, timeout_secs: 15 };
        network_filter(HCM, &http::outbound(&routing, protocol))
    } else {
        let proxy = TcpProxy {
            stat_prefix: service.to_owned(),
            cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(cluster.to_owned())),
            idle_timeout: Some(seconds(3600)),
            ..Default::default()
        };
        network_filter("envoy.filters.network.tcp_proxy", &proxy)
    };
    let mut listener_tags = tags.clone();
    listener_tags.remove("kuma.io/mesh");
    Listener {
        name: format!("outbound:{}", host_port(ip, port)),
        address: Some(socket(ip, port)),
        traffic_direction: TrafficDirection::Outbound as i32,
        metadata: Some(tags_metadata(&[TAGS_METADATA], &listener_tags)),
        filter_chains: vec![FilterChain { filters: vec![filter], ..Default::default() }],
        ..Default::default()
    }
}

/// The EDS cluster of a service: HTTP/2 between proxies (for every protocol; TCP traffic ignores
/// it), Kuma's default connect timeout, mTLS when the mesh has it.
fn eds_cluster(
    view: &MeshView,
    name: &str,
    service: &str,
    tags: &BTreeMap<String, String>,
) -> Cluster {
    let transport_socket = match view.mtls {
        Mtls::Off => None,
        Mtls::Strict | Mtls::Permissive => Some(tls::upstream(&view.mesh, service, tags)),
    };
    Cluster {
        name: name.to_owned(),
        connect_timeout: Some(seconds(5)),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cluster::EdsClusterConfig {
            eds_config: Some(ads()),
            service_name: String::new(),
        }),
        typed_extension_protocol_options: http::protocol_options(true, None),
        transport_socket,
        ..Default::default()
    }
}

fn load_assignment(name: &str, endpoints: &[&Endpoint]) -> ClusterLoadAssignment {
    let lb_endpoints: Vec<LbEndpoint> = endpoints
        .iter()
        .map(|e| LbEndpoint {
            host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(EnvoyEndpoint {
                address: Some(socket(e.ip, e.port)),
                ..Default::default()
            })),
            load_balancing_weight: Some(UInt32Value { value: 1 }),
            metadata: Some(tags_metadata(&ENDPOINT_METADATA, &e.tags)),
            ..Default::default()
        })
        .collect();
    let endpoints = if lb_endpoints.is_empty() {
        Vec::new()
    } else {
        vec![LocalityLbEndpoints { lb_endpoints, ..Default::default() }]
    };
    ClusterLoadAssignment { cluster_name: name.to_owned(), endpoints, ..Default::default() }
}

/// Whether an endpoint with `tags` serves an outbound asking for `wanted` (`*` is any value).
fn selected(wanted: &BTreeMap<String, String>, tags: &BTreeMap<String, String>) -> bool {
    wanted
        .iter()
        .filter(|(k, _)| k.as_str() != "kuma.io/mesh")
        .all(|(k, v)| tags.get(k).is_some_and(|have| v == "*" || have == v))
}

/// `<service>`, or `<service>-<16 hex digits>` when the outbound asks for more tags (a stable
/// FNV-1a hash of the sorted tags, so two tag sets never share a cluster).
fn cluster_name(service: &str, tags: &BTreeMap<String, String>) -> String {
    if tags.len() <= 1 {
        return service.to_owned();
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in tags.iter().flat_map(|(k, v)| k.bytes().chain([0]).chain(v.bytes()).chain([0])) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{service}-{hash:016x}")
}

/// The address a listener binds.
fn bound_address(listener: &Listener) -> Option<(IpAddr, u32)> {
    let address::Address::SocketAddress(socket) = listener.address.as_ref()?.address.as_ref()?
    else {
        return None;
    };
    let Some(socket_address::PortSpecifier::PortValue(port)) = socket.port_specifier else {
        return None;
    };
    Some((socket.address.parse().ok()?, port))
}
