//! kuma-dp's SDS server feeding a real Envoy: a second Envoy, started by the test, has two TLS
//! listeners whose certificate and trust bundle come from kuma-dp's SDS socket (one over the
//! state-of-the-world API, one over delta, both with the `sds_config` the control plane will
//! generate). `/certs` shows the proxy's certificate, a rotation swaps it in place, and a TLS
//! connection opened before the rotation keeps working after it.

use std::net::TcpListener as StdTcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use serde_json::{Value, json};
use shared::testing::cp::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::helpers::{
    KumaDp, WAIT, Zone, admin_get, as_strs, certs_when, envoy_bin, serial, stat, web_args,
};

const IDENTITY: &str = "identity_cert:secret:default";
const MESH_CA: &str = "mesh_ca:secret:default";

/// The `sds_config` the zone's generator puts in listeners and clusters (the contract).
fn sds_config(api_type: &str) -> Value {
    json!({"api_config_source": {"api_type": api_type, "transport_api_version": "V3",
        "grpc_services": [{"envoy_grpc": {"cluster_name": "kuma:sds"}}]},
        "resource_api_version": "V3"})
}

/// A TLS listener on `port` presenting the proxy's identity, proxying to the `echo` cluster.
fn listener(name: &str, port: u16, api_type: &str) -> Value {
    json!({
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{
            "filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": name, "cluster": "echo"}}],
            "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "require_client_certificate": false,
                "common_tls_context": {
                    "tls_certificate_sds_secret_configs": [
                        {"name": IDENTITY, "sds_config": sds_config(api_type)}],
                    "validation_context_sds_secret_config":
                        {"name": MESH_CA, "sds_config": sds_config(api_type)}}}}
        }]
    })
}

fn endpoint(address: Value) -> Value {
    json!([{"lb_endpoints": [{"endpoint": {"address": address}}]}])
}

/// The test's own Envoy: admin on `admin`, SDS from `sds_socket`, listeners on `ports`.
fn probe_envoy(dir: &Path, admin: &Path, sds_socket: &Path, echo: u16, ports: [u16; 2]) -> Child {
    let bootstrap = json!({
        "node": {"id": "sds-probe", "cluster": "probe"},
        "admin": {"address": {"pipe": {"path": admin}}},
        "static_resources": {
            "clusters": [
                {"name": "kuma:sds", "type": "STATIC", "connect_timeout": "1s",
                 "typed_extension_protocol_options": {
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                        "explicit_http_config": {"http2_protocol_options": {}}}},
                 "load_assignment": {"cluster_name": "kuma:sds",
                    "endpoints": endpoint(json!({"pipe": {"path": sds_socket}}))}},
                {"name": "echo", "type": "STATIC", "connect_timeout": "1s",
                 "load_assignment": {"cluster_name": "echo", "endpoints": endpoint(
                    json!({"socket_address": {"address": "127.0.0.1", "port_value": echo}}))}}
            ],
            "listeners": [listener("sotw", ports[0], "GRPC"), listener("delta", ports[1], "DELTA_GRPC")]
        }
    });
    let path = dir.join("probe.json");
    std::fs::write(&path, bootstrap.to_string()).unwrap();
    Command::new(envoy_bin())
        .arg("--config-path")
        .arg(&path)
        .args(["--disable-hot-restart", "--concurrency", "1", "--log-level", "error"])
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An echo server on a free port.
async fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut rx, mut tx) = stream.split();
                let _ = tokio::io::copy(&mut rx, &mut tx).await;
            });
        }
    });
    port
}

/// The serial numbers of the certificates Envoy's TLS contexts present (lowercase hex).
async fn envoy_serials(admin: &Path) -> Vec<String> {
    let Some((200, body)) = admin_get(admin, "/certs").await else { return Vec::new() };
    let certs: Value = serde_json::from_str(&body).unwrap_or_default();
    let contexts = certs["certificates"].as_array().cloned().unwrap_or_default();
    contexts
        .iter()
        .flat_map(|c| c["cert_chain"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["serial_number"].as_str().map(normalize))
        .collect()
}

/// Envoy prints serials without leading zeros.
fn normalize(serial: &str) -> String {
    serial.trim_start_matches('0').to_ascii_lowercase()
}

/// Both listeners present `serial`.
async fn envoy_presents(admin: &Path, serial: &str) {
    eventually(&format!("Envoy's /certs to show serial {serial} twice"), WAIT, || async {
        let serials = envoy_serials(admin).await;
        (serials.len() == 2 && serials.iter().all(|s| s == serial)).then_some(())
    })
    .await;
}

/// A TLS connection to `port`; returns it and the serial of the certificate it was shown.
async fn connect(port: u16, mesh_ca: &str) -> (TlsStream<TcpStream>, String) {
    let config = kuma_core::tls::dangerous_unverified_client_config().unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("web").unwrap();
    let tls = TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    // The listener's certificate is the proxy's, signed by the mesh CA.
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).unwrap();
    let ca_der = x509_parser::pem::Pem::iter_from_buffer(mesh_ca.as_bytes()).next().unwrap();
    let ca_der = ca_der.unwrap().contents;
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    cert.verify_signature(Some(ca.public_key())).unwrap();
    let serial: String = cert.raw_serial().iter().map(|b| format!("{b:02x}")).collect();
    (tls, normalize(&serial))
}

async fn echo(tls: &mut TlsStream<TcpStream>, text: &[u8]) {
    tls.write_all(text).await.unwrap();
    let mut buf = vec![0; text.len()];
    tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut buf)).await.unwrap().unwrap();
    assert_eq!(buf, text);
}

#[tokio::test]
async fn envoy_gets_the_identity_over_sds_and_a_rotation_keeps_connections_up() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(Some("6s")).await;
    let args = web_args(&zone, dir.path()).await;
    let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
    let readiness = dp.readiness().await;
    let first = certs_when(&readiness, "a first certificate", |_| true).await;
    let first_serial = normalize(&serial(first["certChain"].as_str().unwrap()));
    let mesh_ca = first["trustBundle"].as_str().unwrap().to_owned();

    let echo_port = echo_server().await;
    let ports = [free_port(), free_port()];
    let admin = dir.path().join("probe-admin.sock");
    let sds_socket = dp.work_dir.join("kuma-sds.sock");
    let _probe = probe_envoy(dir.path(), &admin, &sds_socket, echo_port, ports);
    envoy_presents(&admin, &first_serial).await;
    let (_, certs) = admin_get(&admin, "/certs").await.unwrap();
    assert!(certs.contains("spiffe://default/web"), "{certs}");
    assert!(!certs.contains("PRIVATE KEY"));

    // Connections opened now, through each listener.
    let mut before = Vec::new();
    for port in ports {
        let (mut tls, shown) = connect(port, &mesh_ca).await;
        assert_eq!(shown, first_serial);
        echo(&mut tls, b"before").await;
        before.push(tls);
    }

    let rotated = certs_when(&readiness, "a rotated certificate", |c| {
        c["regenerations"].as_u64().is_some_and(|n| n >= 2)
    })
    .await;
    let second_serial = normalize(&serial(rotated["certChain"].as_str().unwrap()));
    assert_ne!(second_serial, first_serial);
    envoy_presents(&admin, &second_serial).await;
    for (tls, port) in before.iter_mut().zip(ports) {
        echo(tls, b"after the rotation").await;
        let (_, shown) = connect(port, &mesh_ca).await;
        assert_eq!(shown, second_serial, "a new connection sees the new certificate");
    }
    // Swapped in place: no listener was modified or drained.
    assert_eq!(stat(&admin, "listener_manager.listener_modified").await, 0);
    assert_eq!(stat(&admin, "listener_manager.total_listeners_draining").await, 0);
    // Envoy's stat names spell `:` as `_`. Each listener took both certificates; none was refused.
    assert!(stat(&admin, "sds.identity_cert_secret_default.update_success").await >= 4);
    for secret in ["identity_cert_secret_default", "mesh_ca_secret_default"] {
        assert_eq!(stat(&admin, &format!("sds.{secret}.update_rejected")).await, 0, "{secret}");
    }
    drop(before);
    dp.kill().await;
    zone.stop().await;
}
