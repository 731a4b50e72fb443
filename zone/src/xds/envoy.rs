//! Small builders for the Envoy messages every generator part needs: typed `Any`s, durations,
//! addresses, tag metadata and the two config sources (ADS for EDS, kuma-dp's SDS cluster for
//! secrets). Nothing here decides what a proxy gets.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use envoy_types::pb::envoy::config::core::v3::{
    self as core, AggregatedConfigSource, ApiConfigSource, ApiVersion, ConfigSource, GrpcService,
    Metadata, SocketAddress, address, api_config_source::ApiType, config_source, grpc_service,
    socket_address,
};
use envoy_types::pb::envoy::config::listener::v3::{Filter, filter};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::SdsSecretConfig;
use envoy_types::pb::google::protobuf::{Any, Duration, Struct, Value, value};
use prost::Name;

/// The static cluster kuma-dp's bootstrap defines for its local SDS server.
pub const SDS_CLUSTER: &str = "kuma:sds";
/// Metadata key under which listeners and endpoints carry their Kuma tags.
pub const TAGS_METADATA: &str = "io.kuma.tags";

/// `msg` packed into an `Any` with its type URL.
pub fn any<M: Name>(msg: &M) -> Any {
    Any { type_url: M::type_url(), value: msg.encode_to_vec() }
}

/// A protobuf duration of whole seconds.
pub fn seconds(secs: i64) -> Duration {
    Duration { seconds: secs, nanos: 0 }
}

/// A TCP socket address.
pub fn socket(ip: IpAddr, port: u32) -> core::Address {
    core::Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

/// `ip:port`, with brackets around an IPv6 address (Kuma's listener names).
pub fn host_port(ip: IpAddr, port: u32) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// Tags as a protobuf `Struct` of strings.
pub fn tags_struct(tags: &BTreeMap<String, String>) -> Struct {
    let fields = tags
        .iter()
        .map(|(k, v)| (k.clone(), Value { kind: Some(value::Kind::StringValue(v.clone())) }))
        .collect();
    Struct { fields }
}

/// Metadata with `tags` under each of `keys`.
pub fn tags_metadata(keys: &[&str], tags: &BTreeMap<String, String>) -> Metadata {
    let filter_metadata: HashMap<String, Struct> =
        keys.iter().map(|k| ((*k).to_owned(), tags_struct(tags))).collect();
    Metadata { filter_metadata, ..Default::default() }
}

/// EDS (and anything else) over the ADS stream the proxy already has.
pub fn ads() -> ConfigSource {
    ConfigSource {
        resource_api_version: ApiVersion::V3 as i32,
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
            AggregatedConfigSource {},
        )),
        ..Default::default()
    }
}

/// A secret served by kuma-dp's SDS server (`kuma:sds`): the proxy's private key never reaches
/// the control plane, so secrets never travel on the ADS stream.
pub fn sds(name: String) -> SdsSecretConfig {
    let grpc = GrpcService {
        target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(grpc_service::EnvoyGrpc {
            cluster_name: SDS_CLUSTER.to_owned(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let source = ConfigSource {
        resource_api_version: ApiVersion::V3 as i32,
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::ApiConfigSource(
            ApiConfigSource {
                api_type: ApiType::Grpc as i32,
                transport_api_version: ApiVersion::V3 as i32,
                grpc_services: vec![grpc],
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    SdsSecretConfig { name, sds_config: Some(source) }
}

/// A network filter with a typed config.
pub fn network_filter<M: Name>(name: &str, config: &M) -> Filter {
    Filter {
        name: name.to_owned(),
        config_type: Some(filter::ConfigType::TypedConfig(any(config))),
    }
}

/// A listener or stat name with everything but letters, digits and `_` turned into `_`
/// (`inbound:10.0.0.1:8080` → `inbound_10_0_0_1_8080`).
pub fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kumas() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(host_port(v4, 8080), "10.0.0.1:8080");
        assert_eq!(host_port(v6, 8081), "[::1]:8081");
        assert_eq!(sanitize("inbound:192.168.0.1:80"), "inbound_192_168_0_1_80");
    }
}
