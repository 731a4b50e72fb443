//! The TLS contexts of mesh traffic (reference §7), with secrets by name from kuma-dp's SDS
//! server: the server side of an inbound requires a client certificate of the mesh CA with a
//! `spiffe://<mesh>/` URI SAN; the client side of an outbound presents the proxy's certificate,
//! offers ALPN `kuma`, sends Kuma's SNI and accepts only `spiffe://<mesh>/<service>`. Both sides
//! allow TLS 1.2 and 1.3 only and, for TLS 1.2, AEAD suites only (TLS 1.3 suites all are).

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::{TransportSocket, transport_socket};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SubjectAltNameMatcher,
    TlsParameters, UpstreamTlsContext, common_tls_context, subject_alt_name_matcher::SanType,
    tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::google::protobuf::BoolValue;

use super::envoy::{any, sds};
use kuma_core::resources::SERVICE_TAG;

/// The ALPN protocol mesh clients offer; PERMISSIVE inbounds pick the mTLS chain by it.
pub const KUMA_ALPN: &str = "kuma";
/// Envoy's name of the TLS transport socket.
const TLS_SOCKET: &str = "envoy.transport_sockets.tls";
/// TLS 1.2 suites with forward secrecy and authenticated encryption.
const CIPHER_SUITES: [&str; 6] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
];

/// `identity_cert:secret:<mesh>`: the proxy's certificate and key.
pub fn identity_secret(mesh: &str) -> String {
    format!("identity_cert:secret:{mesh}")
}

/// `mesh_ca:secret:<mesh>`: the mesh's trusted CAs.
pub fn ca_secret(mesh: &str) -> String {
    format!("mesh_ca:secret:{mesh}")
}

/// Kuma's SNI towards `service`: `<service>{mesh=<mesh>}`, with the outbound's other tags
/// before `mesh` in key order (`backend{version=v2,mesh=default}`).
pub fn sni(mesh: &str, tags: &BTreeMap<String, String>) -> String {
    let service = tags.get(SERVICE_TAG).map_or("", String::as_str);
    let mut pairs: Vec<String> = tags
        .iter()
        .filter(|(k, _)| k.as_str() != SERVICE_TAG)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    pairs.push(format!("mesh={mesh}"));
    format!("{service}{{{}}}", pairs.join(","))
}

/// The server side of an inbound's mTLS chain.
pub fn downstream(mesh: &str) -> TransportSocket {
    let context = DownstreamTlsContext {
        common_tls_context: Some(common(
            mesh,
            uri_san(MatchPattern::Prefix(format!("spiffe://{mesh}/"))),
            Vec::new(),
        )),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    };
    socket(any(&context))
}

/// The client side of a cluster towards `service` (with the outbound's `tags`).
pub fn upstream(mesh: &str, service: &str, tags: &BTreeMap<String, String>) -> TransportSocket {
    let san = uri_san(MatchPattern::Exact(format!("spiffe://{mesh}/{service}")));
    let context = UpstreamTlsContext {
        common_tls_context: Some(common(mesh, san, vec![KUMA_ALPN.to_owned()])),
        sni: sni(mesh, tags),
        ..Default::default()
    };
    socket(any(&context))
}

fn common(mesh: &str, san: SubjectAltNameMatcher, alpn: Vec<String>) -> CommonTlsContext {
    let validation = common_tls_context::CombinedCertificateValidationContext {
        default_validation_context: Some(CertificateValidationContext {
            match_typed_subject_alt_names: vec![san],
            ..Default::default()
        }),
        validation_context_sds_secret_config: Some(sds(ca_secret(mesh))),
        ..Default::default()
    };
    CommonTlsContext {
        tls_params: Some(TlsParameters {
            tls_minimum_protocol_version: TlsProtocol::TlSv12 as i32,
            tls_maximum_protocol_version: TlsProtocol::TlSv13 as i32,
            cipher_suites: CIPHER_SUITES.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }),
        tls_certificate_sds_secret_configs: vec![sds(identity_secret(mesh))],
        alpn_protocols: alpn,
        validation_context_type: Some(
            common_tls_context::ValidationContextType::CombinedValidationContext(validation),
        ),
        ..Default::default()
    }
}

fn uri_san(pattern: MatchPattern) -> SubjectAltNameMatcher {
    SubjectAltNameMatcher {
        san_type: SanType::Uri as i32,
        matcher: Some(StringMatcher { match_pattern: Some(pattern), ignore_case: false }),
        ..Default::default()
    }
}

fn socket(config: envoy_types::pb::google::protobuf::Any) -> TransportSocket {
    TransportSocket {
        name: TLS_SOCKET.to_owned(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(config)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_is_kumas() {
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        assert_eq!(
            sni("default", &tags(&[("kuma.io/service", "backend")])),
            "backend{mesh=default}"
        );
        assert_eq!(
            sni(
                "default",
                &tags(&[("kuma.io/service", "backend"), ("version", "v2"), ("env", "prod")])
            ),
            "backend{env=prod,version=v2,mesh=default}"
        );
    }
}
