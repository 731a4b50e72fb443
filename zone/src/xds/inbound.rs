//! The inbound side of a proxy (reference §6): per inbound, a listener `inbound:<ip>:<port>`
//! whose chains depend on the mesh's mTLS mode, and a STATIC cluster `localhost:<port>` to the
//! application. Inbounds that cannot work (an address that is not an IP, a listen address and
//! port used twice) are left out with a warning naming the field.

use std::collections::BTreeMap;
use std::net::IpAddr;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{TrafficDirection, TransportSocket};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter, listener_filter,
};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use kuma_core::resources::{Inbound, SERVICE_TAG};

use super::envoy::{TAGS_METADATA, any, host_port, network_filter, seconds, socket, tags_metadata};
use super::generate::Resources;
use super::http::{self, HCM, Routing};
use super::protocol::Protocol;
use super::rbac::{self, Authorizer, Authz};
use super::tls::{self, KUMA_ALPN};
use super::view::{Dataplane, MeshView, Mtls};

/// Builds the listeners and clusters of every inbound of `dp` into `out`.
pub fn generate(view: &MeshView, dp: &Dataplane, out: &mut Resources, warnings: &mut Vec<String>) {
    let Some(net) = &dp.spec.networking else { return };
    let authorizer = Authorizer::new(view, dp);
    let mut bound: BTreeMap<(IpAddr, u32), usize> = BTreeMap::new();
    let mut clusters: BTreeMap<u32, IpAddr> = BTreeMap::new();
    for (i, inbound) in net.inbound.iter().enumerate() {
        let field = format!("networking.inbound[{i}]");
        let address = inbound.address.as_deref().filter(|a| !a.is_empty()).unwrap_or(&net.address);
        let Ok(ip) = address.parse::<IpAddr>() else {
            warnings.push(format!(
                "{field}: address {address:?} is not an IP address, so no listener can bind it"
            ));
            continue;
        };
        if let Some(first) = bound.insert((ip, inbound.port), i) {
            bound.insert((ip, inbound.port), first);
            warnings.push(format!(
                "{field}.port: {} is already the listener of networking.inbound[{first}]; this \
                 inbound gets no listener",
                host_port(ip, inbound.port)
            ));
            continue;
        }
        let workload_ip = match inbound.service_address.as_deref().filter(|a| !a.is_empty()) {
            Some(a) => match a.parse() {
                Ok(ip) => ip,
                Err(_) => {
                    warnings.push(format!("{field}.serviceAddress: {a:?} is not an IP address"));
                    continue;
                }
            },
            None => ip,
        };
        let workload_port = inbound.service_port.filter(|p| *p != 0).unwrap_or(inbound.port);
        match clusters.get(&workload_port) {
            Some(other) if *other != workload_ip => {
                warnings.push(format!(
                    "{field}: the application port {workload_port} is already used with address \
                     {other}; this inbound gets no listener"
                ));
                continue;
            }
            Some(_) => {}
            None => {
                clusters.insert(workload_port, workload_ip);
                out.clusters.push(local_cluster(
                    workload_ip,
                    workload_port,
                    Protocol::of(&inbound.tags),
                ));
            }
        }
        out.listeners.push(listener(view, &authorizer, inbound, ip, workload_port));
    }
}

fn listener(
    view: &MeshView,
    authorizer: &Authorizer<'_>,
    inbound: &Inbound,
    ip: IpAddr,
    workload_port: u32,
) -> Listener {
    let name = format!("inbound:{}", host_port(ip, inbound.port));
    let protocol = Protocol::of(&inbound.tags);
    let body = Body { inbound, workload_port, protocol };
    let mtls_chain = |authz: Authz| {
        let (network, http) = match authz {
            Authz::Network(rbac) => {
                (Some(network_filter("envoy.filters.network.rbac", &rbac)), None)
            }
            Authz::Http(rbac) => (None, Some(rbac)),
        };
        let mut filters: Vec<Filter> = network.into_iter().collect();
        filters.push(body.filter(http));
        (filters, tls::downstream(&view.mesh))
    };
    let authz = || {
        authorizer.inbound(&rbac::Inbound {
            tags: &inbound.tags,
            name: inbound.name.as_deref(),
            listener: &name,
            http: protocol.is_http(),
        })
    };
    let (listener_filters, filter_chains) = match view.mtls {
        Mtls::Off => (Vec::new(), vec![chain(None, vec![body.filter(None)], None)]),
        Mtls::Strict => {
            let (filters, socket) = mtls_chain(authz());
            (Vec::new(), vec![chain(None, filters, Some(socket))])
        }
        Mtls::Permissive => {
            let (filters, socket) = mtls_chain(authz());
            let plaintext = chain(Some(matching("raw_buffer", &[])), vec![body.filter(None)], None);
            let app_tls = chain(Some(matching("tls", &[])), vec![body.filter(None)], None);
            let mesh_tls = chain(Some(matching("tls", &[KUMA_ALPN])), filters, Some(socket));
            (vec![tls_inspector()], vec![plaintext, app_tls, mesh_tls])
        }
    };
    Listener {
        name,
        address: Some(socket(ip, inbound.port)),
        traffic_direction: TrafficDirection::Inbound as i32,
        metadata: Some(tags_metadata(&[TAGS_METADATA], &inbound.tags)),
        listener_filters,
        filter_chains,
        ..Default::default()
    }
}

/// What an inbound chain does with the traffic it accepts.
struct Body<'a> {
    inbound: &'a Inbound,
    workload_port: u32,
    protocol: Protocol,
}

impl Body<'_> {
    fn filter(&self, rbac: Option<HttpRbac>) -> Filter {
        let cluster = format!("localhost:{}", self.workload_port);
        let stat_prefix = format!("localhost_{}", self.workload_port);
        if !self.protocol.is_http() {
            let proxy = TcpProxy {
                stat_prefix,
                cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(cluster)),
                idle_timeout: Some(seconds(7200)),
                ..Default::default()
            };
            return network_filter("envoy.filters.network.tcp_proxy", &proxy);
        }
        let service = self.inbound.tags.get(SERVICE_TAG).map_or("", String::as_str);
        let routing = Routing {
            name: format!("inbound:{service}"),
            service,
            cluster: &cluster,
            timeout_secs: 0,
        };
        network_filter(HCM, &http::inbound(&stat_prefix, &routing, self.protocol, rbac))
    }
}

fn chain(
    filter_chain_match: Option<FilterChainMatch>,
    filters: Vec<Filter>,
    transport_socket: Option<TransportSocket>,
) -> FilterChain {
    FilterChain { filter_chain_match, filters, transport_socket, ..Default::default() }
}

fn matching(transport: &str, alpn: &[&str]) -> FilterChainMatch {
    FilterChainMatch {
        transport_protocol: transport.to_owned(),
        application_protocols: alpn.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

fn tls_inspector() -> ListenerFilter {
    ListenerFilter {
        name: "envoy.filters.listener.tls_inspector".to_owned(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(any(&TlsInspector::default()))),
        ..Default::default()
    }
}

/// `localhost:<port>`: the application behind an inbound.
fn local_cluster(ip: IpAddr, port: u32, protocol: Protocol) -> Cluster {
    let name = format!("localhost:{port}");
    let endpoint = LbEndpoint {
        host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
            address: Some(socket(ip, port)),
            ..Default::default()
        })),
        ..Default::default()
    };
    let typed_extension_protocol_options = match protocol {
        Protocol::Tcp => Default::default(),
        Protocol::Http => http::protocol_options(false, Some(7200)),
        Protocol::Http2 | Protocol::Grpc => http::protocol_options(true, None),
    };
    Cluster {
        name: name.clone(),
        alt_stat_name: format!("localhost_{port}"),
        connect_timeout: Some(seconds(10)),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Static as i32,
        )),
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: name,
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![endpoint],
                ..Default::default()
            }],
            ..Default::default()
        }),
        typed_extension_protocol_options,
        ..Default::default()
    }
}
