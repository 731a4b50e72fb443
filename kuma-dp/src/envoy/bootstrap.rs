//! The bootstrap kuma-dp writes for its Envoy: who the proxy is (node), where its admin API
//! listens, the ADS connection to the control plane, and the static `kuma:sds` cluster through
//! which Envoy asks kuma-dp for its identity.
//!
//! The document is a typed serde mirror of the part of `envoy.config.bootstrap.v3.Bootstrap` we
//! set, in Envoy's YAML field names; `envoy --mode validate` accepts it (tested against the
//! real binary in the integration tests). Kuma's CP renders the bootstrap behind `POST
//! /bootstrap`; kuma-dp builds it itself, from its flags, without that round trip. It carries
//! the dataplane token (gRPC initial metadata, as Kuma's does), so it is written 0600, and it
//! never carries the private key.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::envoy::AdsVariant;
use crate::envoy::node::Node as NodeInfo;

/// The ADS cluster's name (the contract with the zone's xDS generator).
pub const ADS_CLUSTER: &str = "ads_cluster";
/// The SDS cluster's name: the CP's listeners and clusters reference it in their
/// `sds_config.api_config_source.grpc_services[0].envoy_grpc.cluster_name`.
pub const SDS_CLUSTER: &str = "kuma:sds";
/// The static secret that validates the control plane's certificate.
pub const CP_VALIDATION: &str = "cp_validation_ctx";

const HTTP_OPTIONS_KEY: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const HTTP_OPTIONS_TYPE: &str =
    "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const UPSTREAM_TLS_TYPE: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
/// Owner read and write only, for the admin socket Envoy creates.
const SOCKET_MODE: u32 = 0o600;

/// What the bootstrap is made from.
#[derive(Debug)]
pub struct Params<'a> {
    /// Who the proxy is.
    pub node: &'a NodeInfo,
    /// Envoy's admin socket.
    pub admin_socket: &'a Path,
    /// kuma-dp's SDS socket.
    pub sds_socket: &'a Path,
    /// The control plane's host (DNS name or IP) and DP server port.
    pub cp_host: &'a str,
    /// The DP server port.
    pub cp_port: u16,
    /// PEM of the CA that issued the control plane's certificate.
    pub cp_ca_pem: &'a str,
    /// The raw dataplane token.
    pub token: &'a str,
    /// Delta or state-of-the-world ADS.
    pub ads: AdsVariant,
}

/// The bootstrap document.
#[derive(Debug, Serialize)]
pub struct Bootstrap {
    node: Node,
    admin: Admin,
    dynamic_resources: DynamicResources,
    static_resources: StaticResources,
}

#[derive(Debug, Serialize)]
struct Node {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<String>,
    metadata: Map<String, Value>,
}

#[derive(Debug, Serialize)]
struct Admin {
    address: Address,
}

/// `envoy.config.core.v3.Address`: exactly one of the two is set (a oneof, written as a plain
/// map because serde_yaml_ng would tag an enum).
#[derive(Debug, Serialize)]
struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pipe: Option<Pipe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    socket_address: Option<SocketAddress>,
}

#[derive(Debug, Serialize)]
struct Pipe {
    path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<u32>,
}

#[derive(Debug, Serialize)]
struct SocketAddress {
    address: String,
    port_value: u16,
}

#[derive(Debug, Serialize)]
struct DynamicResources {
    lds_config: AdsSource,
    cds_config: AdsSource,
    ads_config: ApiConfigSource,
}

/// `{ads: {}, initial_fetch_timeout: 0s, resource_api_version: V3}`: wait for the CP as long as
/// it takes, as Kuma's bootstrap does.
#[derive(Debug, Serialize)]
struct AdsSource {
    ads: Empty,
    initial_fetch_timeout: &'static str,
    resource_api_version: &'static str,
}

#[derive(Debug, Serialize)]
struct Empty {}

#[derive(Debug, Serialize)]
struct ApiConfigSource {
    api_type: &'static str,
    transport_api_version: &'static str,
    set_node_on_first_message_only: bool,
    grpc_services: Vec<GrpcService>,
}

#[derive(Debug, Serialize)]
struct GrpcService {
    envoy_grpc: EnvoyGrpc,
    initial_metadata: Vec<HeaderValue>,
}

#[derive(Debug, Serialize)]
struct EnvoyGrpc {
    cluster_name: &'static str,
}

#[derive(Debug, Serialize)]
struct HeaderValue {
    key: &'static str,
    value: String,
}

#[derive(Debug, Serialize)]
struct StaticResources {
    secrets: Vec<Secret>,
    clusters: Vec<Cluster>,
}

#[derive(Debug, Serialize)]
struct Secret {
    name: &'static str,
    validation_context: ValidationContext,
}

#[derive(Debug, Serialize)]
struct ValidationContext {
    trusted_ca: InlineString,
    match_typed_subject_alt_names: Vec<SanMatcher>,
}

#[derive(Debug, Serialize)]
struct InlineString {
    inline_string: String,
}

#[derive(Debug, Serialize)]
struct SanMatcher {
    san_type: &'static str,
    matcher: Exact,
}

#[derive(Debug, Serialize)]
struct Exact {
    exact: String,
}

#[derive(Debug, Serialize)]
struct Cluster {
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    connect_timeout: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_lookup_family: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_connection_options: Option<UpstreamConnectionOptions>,
    typed_extension_protocol_options: Map<String, Value>,
    load_assignment: LoadAssignment,
    #[serde(skip_serializing_if = "Option::is_none")]
    transport_socket: Option<TransportSocket>,
}

#[derive(Debug, Serialize)]
struct UpstreamConnectionOptions {
    tcp_keepalive: TcpKeepalive,
}

#[derive(Debug, Serialize)]
struct TcpKeepalive {
    keepalive_probes: u32,
    keepalive_time: u32,
    keepalive_interval: u32,
}

#[derive(Debug, Serialize)]
struct LoadAssignment {
    cluster_name: &'static str,
    endpoints: Vec<LocalityEndpoints>,
}

#[derive(Debug, Serialize)]
struct LocalityEndpoints {
    lb_endpoints: Vec<LbEndpoint>,
}

#[derive(Debug, Serialize)]
struct LbEndpoint {
    endpoint: Endpoint,
}

#[derive(Debug, Serialize)]
struct Endpoint {
    address: Address,
}

#[derive(Debug, Serialize)]
struct TransportSocket {
    name: &'static str,
    typed_config: UpstreamTlsContext,
}

#[derive(Debug, Serialize)]
struct UpstreamTlsContext {
    #[serde(rename = "@type")]
    type_url: &'static str,
    sni: String,
    common_tls_context: CommonTlsContext,
}

#[derive(Debug, Serialize)]
struct CommonTlsContext {
    tls_params: TlsParams,
    alpn_protocols: Vec<&'static str>,
    validation_context_sds_secret_config: SdsSecretConfig,
}

#[derive(Debug, Serialize)]
struct TlsParams {
    tls_minimum_protocol_version: &'static str,
}

#[derive(Debug, Serialize)]
struct SdsSecretConfig {
    name: &'static str,
}

impl Bootstrap {
    /// The bootstrap for `params`.
    pub fn new(params: &Params<'_>) -> Self {
        let api_type = match params.ads {
            AdsVariant::Delta => "DELTA_GRPC",
            AdsVariant::StateOfTheWorld => "GRPC",
        };
        let ads_source =
            || AdsSource { ads: Empty {}, initial_fetch_timeout: "0s", resource_api_version: "V3" };
        Self {
            node: Node {
                id: params.node.id.clone(),
                cluster: params.node.cluster.clone(),
                metadata: params.node.metadata.clone(),
            },
            admin: Admin { address: Address::pipe(params.admin_socket, Some(SOCKET_MODE)) },
            dynamic_resources: DynamicResources {
                lds_config: ads_source(),
                cds_config: ads_source(),
                ads_config: ApiConfigSource {
                    api_type,
                    transport_api_version: "V3",
                    set_node_on_first_message_only: true,
                    grpc_services: vec![GrpcService {
                        envoy_grpc: EnvoyGrpc { cluster_name: ADS_CLUSTER },
                        initial_metadata: vec![HeaderValue {
                            key: "authorization",
                            value: params.token.to_owned(),
                        }],
                    }],
                },
            },
            static_resources: StaticResources {
                secrets: vec![cp_validation(params.cp_host, params.cp_ca_pem)],
                clusters: vec![ads_cluster(params.cp_host, params.cp_port), sds_cluster(params)],
            },
        }
    }

    /// The document as YAML.
    pub fn to_yaml(&self) -> Result<String, serde_yaml_ng::Error> {
        serde_yaml_ng::to_string(self)
    }
}

impl Address {
    fn pipe(path: &Path, mode: Option<u32>) -> Self {
        Self { pipe: Some(Pipe { path: path.to_owned(), mode }), socket_address: None }
    }

    fn socket(address: &str, port_value: u16) -> Self {
        let socket_address = SocketAddress { address: address.to_owned(), port_value };
        Self { pipe: None, socket_address: Some(socket_address) }
    }
}

/// The CP's CA, and its certificate must name the host kuma-dp was given: a DNS SAN for a name,
/// an IP SAN for an address.
fn cp_validation(host: &str, ca_pem: &str) -> Secret {
    let san_type = if host.parse::<IpAddr>().is_ok() { "IP_ADDRESS" } else { "DNS" };
    Secret {
        name: CP_VALIDATION,
        validation_context: ValidationContext {
            trusted_ca: InlineString { inline_string: ca_pem.to_owned() },
            match_typed_subject_alt_names: vec![SanMatcher {
                san_type,
                matcher: Exact { exact: host.to_owned() },
            }],
        },
    }
}

/// HTTP/2 to the upstream, as gRPC needs.
fn http2_options() -> Map<String, Value> {
    let options = serde_json::json!({
        "@type": HTTP_OPTIONS_TYPE,
        "explicit_http_config": {"http2_protocol_options": {}},
    });
    Map::from_iter([(HTTP_OPTIONS_KEY.to_owned(), options)])
}

/// TLS to the DP server: SNI is the host, the peer is checked against the CP CA and the host;
/// no client certificate (the token authenticates the proxy).
fn ads_cluster(host: &str, port: u16) -> Cluster {
    let is_ip = host.parse::<IpAddr>().is_ok();
    Cluster {
        name: ADS_CLUSTER,
        kind: if is_ip { "STATIC" } else { "STRICT_DNS" },
        connect_timeout: "1s",
        // A name such as `localhost` can resolve to ::1 first while the CP listens on IPv4.
        dns_lookup_family: (!is_ip).then_some("V4_PREFERRED"),
        upstream_connection_options: Some(UpstreamConnectionOptions {
            tcp_keepalive: TcpKeepalive {
                keepalive_probes: 3,
                keepalive_time: 10,
                keepalive_interval: 10,
            },
        }),
        typed_extension_protocol_options: http2_options(),
        load_assignment: single_endpoint(ADS_CLUSTER, Address::socket(host, port)),
        transport_socket: Some(TransportSocket {
            name: "envoy.transport_sockets.tls",
            typed_config: UpstreamTlsContext {
                type_url: UPSTREAM_TLS_TYPE,
                sni: host.to_owned(),
                common_tls_context: CommonTlsContext {
                    tls_params: TlsParams { tls_minimum_protocol_version: "TLSv1_2" },
                    alpn_protocols: vec!["h2"],
                    validation_context_sds_secret_config: SdsSecretConfig { name: CP_VALIDATION },
                },
            },
        }),
    }
}

/// gRPC over kuma-dp's SDS socket; plain text, as the socket is 0600 and kuma-dp's own.
fn sds_cluster(params: &Params<'_>) -> Cluster {
    Cluster {
        name: SDS_CLUSTER,
        kind: "STATIC",
        connect_timeout: "1s",
        dns_lookup_family: None,
        upstream_connection_options: None,
        typed_extension_protocol_options: http2_options(),
        load_assignment: single_endpoint(SDS_CLUSTER, Address::pipe(params.sds_socket, None)),
        transport_socket: None,
    }
}

fn single_endpoint(cluster_name: &'static str, address: Address) -> LoadAssignment {
    LoadAssignment {
        cluster_name,
        endpoints: vec![LocalityEndpoints {
            lb_endpoints: vec![LbEndpoint { endpoint: Endpoint { address } }],
        }],
    }
}

#[cfg(test)]
mod tests;
