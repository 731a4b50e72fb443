//! The HTTP connection manager of HTTP inbounds and outbounds (routes inline, no RDS) and the
//! HTTP protocol options of clusters (reference §6, §8).

use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3::{
    Http1ProtocolOptions, Http2ProtocolOptions, HttpProtocolOptions as CommonOptions,
};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action,
    route_match,
};
use envoy_types::pb::envoy::extensions::filters::http::grpc_stats::v3::FilterConfig as GrpcStats;
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager, http_filter,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options,
};
use envoy_types::pb::google::protobuf::{Any, BoolValue};
use prost::Name;

use super::envoy::{any, seconds};
use super::protocol::Protocol;

/// Envoy's name of the HTTP connection manager.
pub const HCM: &str = "envoy.filters.network.http_connection_manager";
/// The key of cluster HTTP protocol options.
const PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// The direction-specific parts of a connection manager.
pub struct Routing<'a> {
    /// `inbound:<service>` or `outbound:<service>`.
    pub name: String,
    /// The virtual host (the service).
    pub service: &'a str,
    /// The cluster every request goes to.
    pub cluster: &'a str,
    /// The route timeout (0 = none).
    pub timeout_secs: i64,
}

/// The connection manager of an inbound: the client certificate's URI goes to the application
/// in `x-forwarded-client-cert`, the `x-kuma-tags` header of clients is dropped.
pub fn inbound(
    stat_prefix: &str,
    route: &Routing<'_>,
    protocol: Protocol,
    rbac: Option<HttpRbac>,
) -> HttpConnectionManager {
    let mut config = RouteConfiguration {
        request_headers_to_remove: vec!["x-kuma-tags".to_owned()],
        ..route_config(route)
    };
    config.validate_clusters = Some(BoolValue { value: false });
    HttpConnectionManager {
        stat_prefix: stat_prefix.to_owned(),
        codec_type: http_connection_manager::CodecType::Auto as i32,
        forward_client_cert_details: http_connection_manager::ForwardClientCertDetails::SanitizeSet
            as i32,
        set_current_client_cert_details: Some(
            http_connection_manager::SetCurrentClientCertDetails {
                uri: true,
                ..Default::default()
            },
        ),
        common_http_protocol_options: Some(CommonOptions {
            idle_timeout: Some(seconds(7200)),
            ..Default::default()
        }),
        stream_idle_timeout: Some(seconds(3600)),
        internal_address_config: Some(http_connection_manager::InternalAddressConfig::default()),
        http_filters: filters(protocol, rbac),
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(config)),
        ..Default::default()
    }
}

/// The connection manager of an outbound (Kuma's default MeshTimeout: 15 s per request, 1 h
/// idle connections, 30 min idle streams).
pub fn outbound(route: &Routing<'_>, protocol: Protocol) -> HttpConnectionManager {
    let mut config = route_config(route);
    config.validate_clusters = Some(BoolValue { value: false });
    HttpConnectionManager {
        stat_prefix: route.service.to_owned(),
        codec_type: http_connection_manager::CodecType::Auto as i32,
        normalize_path: Some(BoolValue { value: true }),
        common_http_protocol_options: Some(CommonOptions {
            idle_timeout: Some(seconds(3600)),
            ..Default::default()
        }),
        stream_idle_timeout: Some(seconds(1800)),
        internal_address_config: Some(http_connection_manager::InternalAddressConfig::default()),
        http_filters: filters(protocol, None),
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(config)),
        ..Default::default()
    }
}

/// HTTP protocol options of a cluster: HTTP/2 or HTTP/1, with an idle timeout.
pub fn protocol_options(http2: bool, idle_secs: Option<i64>) -> HashMap<String, Any> {
    use http_protocol_options::explicit_http_config::ProtocolConfig;
    let protocol = if http2 {
        ProtocolConfig::Http2ProtocolOptions(Http2ProtocolOptions::default())
    } else {
        ProtocolConfig::HttpProtocolOptions(Http1ProtocolOptions::default())
    };
    let options = HttpProtocolOptions {
        common_http_protocol_options: idle_secs
            .map(|s| CommonOptions { idle_timeout: Some(seconds(s)), ..Default::default() }),
        upstream_protocol_options: Some(
            http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
                http_protocol_options::ExplicitHttpConfig { protocol_config: Some(protocol) },
            ),
        ),
        ..Default::default()
    };
    [(PROTOCOL_OPTIONS.to_owned(), any(&options))].into()
}

fn route_config(route: &Routing<'_>) -> RouteConfiguration {
    let action = RouteAction {
        cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(route.cluster.to_owned())),
        timeout: Some(seconds(route.timeout_secs)),
        ..Default::default()
    };
    let all = Route {
        r#match: Some(RouteMatch {
            path_specifier: Some(route_match::PathSpecifier::Prefix("/".to_owned())),
            ..Default::default()
        }),
        action: Some(route::Action::Route(action)),
        ..Default::default()
    };
    RouteConfiguration {
        name: route.name.clone(),
        virtual_hosts: vec![VirtualHost {
            name: route.service.to_owned(),
            domains: vec!["*".to_owned()],
            routes: vec![all],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn filters(protocol: Protocol, rbac: Option<HttpRbac>) -> Vec<HttpFilter> {
    let mut filters = Vec::new();
    if let Some(rbac) = rbac {
        filters.push(http_filter_of("envoy.filters.http.rbac", &rbac));
    }
    if protocol == Protocol::Grpc {
        let stats = GrpcStats { emit_filter_state: true, ..Default::default() };
        filters.push(http_filter_of("envoy.filters.http.grpc_stats", &stats));
    }
    filters.push(http_filter_of("envoy.filters.http.router", &Router::default()));
    filters
}

fn http_filter_of<M: Name>(name: &str, config: &M) -> HttpFilter {
    HttpFilter {
        name: name.to_owned(),
        config_type: Some(http_filter::ConfigType::TypedConfig(any(config))),
        ..Default::default()
    }
}
