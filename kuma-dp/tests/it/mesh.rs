//! Two services through two sidecars: the real kuma-dp running the real Envoy, configured by the
//! in-process zone over ADS (secrets from kuma-dp's SDS). Traffic between them is mTLS with the
//! SPIFFE identities (checked from the peer side with a TLS client holding a mesh certificate,
//! and in Envoy's stats); STRICT with no permission denies, a TrafficPermission or a
//! MeshTrafficPermission allows within a second and deleting it denies again; PERMISSIVE also
//! takes plaintext; a client with a certificate of another CA is refused; mTLS off passes plain
//! traffic; revoking a proxy's token closes its ADS stream.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kuma_core::ca::{Issuer, builtin_cert_secret_name, builtin_key_secret_name};
use kuma_core::identity::Subject;
use kuma_core::resources::{self, Spec};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256};
use reqwest::StatusCode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{Value, json};
use shared::testing::cp::{eventually, http_client};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{KumaDp, WAIT, Zone, admin_get, certs_when, serial, stat};

/// The ports of the two proxies and the backend's echo application.
struct Ports {
    backend_inbound: u16,
    backend_app: u16,
    web_inbound: u16,
    web_outbound: u16,
}

/// The zone, the two kuma-dps and where things listen.
struct TwoServices {
    zone: Zone,
    backend: KumaDp,
    web: KumaDp,
    ports: Ports,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A TCP echo application; returns its port.
async fn echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}

/// What the clients send. Longer than a TLS record header, so that the TLS inspector of a
/// PERMISSIVE inbound can tell plaintext from TLS.
const PING: &[u8] = b"ping through the mesh\n";

/// Writes [`PING`] and reads it back, if the connection carries it.
async fn ping<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> bool {
    if stream.write_all(PING).await.is_err() {
        return false;
    }
    let mut buf = [0u8; PING.len()];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut buf)).await;
    matches!(read, Ok(Ok(_))) && buf == PING
}

async fn through(port: u16) -> bool {
    match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(mut stream) => ping(&mut stream).await,
        Err(_) => false,
    }
}

impl TwoServices {
    /// The mesh `default` with `mtls` (JSON, or null), backend (echo) and web (an outbound to
    /// backend), each with its kuma-dp and Envoy, once web's outbound and backend's inbound are
    /// active in their Envoys.
    async fn start(dir: &Path, mtls: Value) -> Self {
        let zone = Zone::start(&dir.join("zone")).await;
        let mesh = json!({"type": "Mesh", "name": "default", "mtls": mtls});
        put(&zone, "/meshes/default", mesh).await;
        let ports = Ports {
            backend_inbound: free_port(),
            backend_app: echo().await,
            web_inbound: free_port(),
            web_outbound: free_port(),
        };
        let backend = json!({"type": "Dataplane", "mesh": "default", "name": "backend",
            "networking": {"address": "127.0.0.1", "inbound": [{"port": ports.backend_inbound,
                "servicePort": ports.backend_app, "serviceAddress": "127.0.0.1",
                "tags": {"kuma.io/service": "backend"}}]}});
        let web = json!({"type": "Dataplane", "mesh": "default", "name": "web",
            "networking": {"address": "127.0.0.1",
                "inbound": [{"port": ports.web_inbound, "servicePort": free_port(),
                    "tags": {"kuma.io/service": "web", "version": "v1"}}],
                "outbound": [{"port": ports.web_outbound, "tags": {"kuma.io/service": "backend"}}]}});
        let backend = kuma_dp(&zone, dir, "backend", &backend).await;
        let web = kuma_dp(&zone, dir, "web", &web).await;
        let two = Self { zone, backend, web, ports };
        let inbound = format!("inbound:127.0.0.1:{}", two.ports.backend_inbound);
        let outbound = format!("outbound:127.0.0.1:{}", two.ports.web_outbound);
        active(&two.backend, &inbound).await;
        active(&two.web, &outbound).await;
        two
    }

    async fn stop(self) {
        self.web.kill().await;
        self.backend.kill().await;
        self.zone.stop().await;
    }

    /// Whether web's outbound reaches backend's application now.
    async fn web_reaches_backend(&self) -> bool {
        through(self.ports.web_outbound).await
    }

    /// Polls until web reaches (or no longer reaches) backend; returns how long it took.
    async fn until_reach(&self, reach: bool) -> Duration {
        let started = Instant::now();
        eventually("web's reach of backend changes", WAIT, || async {
            (self.web_reaches_backend().await == reach).then_some(())
        })
        .await;
        started.elapsed()
    }

    /// Connections backend's inbound RBAC refused so far.
    async fn denied(&self) -> u64 {
        let prefix = format!("inbound_127_0_0_1_{}", self.ports.backend_inbound);
        stat(&self.backend.admin_socket(), &format!("{prefix}.rbac.denied")).await
    }
}

async fn put(zone: &Zone, path: &str, body: Value) {
    let resp = http_client().put(format!("{}{path}", zone.api)).json(&body).send().await.unwrap();
    let status = resp.status();
    assert!(status.is_success(), "PUT {path}: {status} {}", resp.text().await.unwrap());
}

async fn delete(zone: &Zone, path: &str) {
    let resp = http_client().delete(format!("{}{path}", zone.api)).send().await.unwrap();
    assert!(resp.status().is_success(), "DELETE {path}: {}", resp.status());
}

/// Starts kuma-dp for Dataplane `name` (inline) with a token of its own.
async fn kuma_dp(zone: &Zone, dir: &Path, name: &str, dataplane: &Value) -> KumaDp {
    let token = dir.join(format!("{name}.token"));
    zone.token_from("/tokens/dataplane", json!({"name": name, "mesh": "default"}), &token).await;
    let cp = zone.cp_address();
    let args = [
        "--cp-address",
        &cp,
        "--ca-cert-file",
        zone.ca.to_str().unwrap(),
        "--dataplane-token-file",
        token.to_str().unwrap(),
        "--dataplane",
        &dataplane.to_string(),
    ];
    KumaDp::start(dir, &args)
}

/// Waits until `listener` is active (not warming) in the proxy's Envoy.
async fn active(dp: &KumaDp, listener: &str) {
    let socket = dp.admin_socket();
    eventually(&format!("{listener} is active"), WAIT, || async {
        let (200, body) = admin_get(&socket, "/config_dump?resource=dynamic_listeners").await?
        else {
            return None;
        };
        let dump: Value = serde_json::from_str(&body).ok()?;
        let found = dump["configs"].as_array()?.iter().any(|l| {
            l["name"] == listener && !l["active_state"].is_null() && l["warming_state"].is_null()
        });
        found.then_some(())
    })
    .await;
}

fn strict() -> Value {
    json!({"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]})
}

fn allow_web() -> Value {
    json!({"type": "TrafficPermission", "mesh": "default", "name": "web-to-backend",
        "sources": [{"match": {"kuma.io/service": "web"}}],
        "destinations": [{"match": {"kuma.io/service": "backend"}}]})
}

/// A certificate for proxy `name` of mesh default (tags `kuma.io/service: <name>`) from the CA
/// of `chain`/`key`, and its key, both PEM.
fn mesh_certificate(chain: &[u8], key: &[u8], name: &str) -> (String, String) {
    let issuer = Issuer::new(chain, key).unwrap();
    let doc = json!({"type": "Dataplane", "mesh": "default", "name": name, "networking": {
        "address": "127.0.0.1", "inbound": [{"port": 1, "tags": {"kuma.io/service": name}}]}});
    let Spec::Dataplane(spec) = resources::decode(doc).unwrap().spec else { panic!() };
    let labels = Default::default();
    let identity = Subject { mesh: "default", name, spec: &spec, labels: &labels }.mtls().unwrap();
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = CertificateParams::default().serialize_request(&leaf_key).unwrap();
    let issued = issuer
        .issue(csr.der(), &identity, Duration::from_secs(3600), OffsetDateTime::now_utc())
        .unwrap();
    (issued.chain_pem, leaf_key.serialize_pem())
}

/// The mesh CA's certificate and key, read from the zone's store through its API.
async fn mesh_ca(zone: &Zone) -> (Vec<u8>, Vec<u8>) {
    let read = |name: String| async move {
        let url = format!("{}/meshes/default/secrets/{name}", zone.api);
        let secret: Value = http_client().get(url).send().await.unwrap().json().await.unwrap();
        STANDARD.decode(secret["data"].as_str().unwrap()).unwrap()
    };
    (
        read(builtin_cert_secret_name("default", "ca-1")).await,
        read(builtin_key_secret_name("default", "ca-1")).await,
    )
}

/// A CA nobody in the mesh trusts, as (certificate, key) PEM.
fn foreign_ca() -> (Vec<u8>, Vec<u8>) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem().into_bytes(), key.serialize_pem().into_bytes())
}

/// Accepts any server certificate: the test inspects it after the handshake instead.
#[derive(Debug)]
struct Inspect(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Inspect {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Connects to `port` as a mesh client (ALPN `kuma`) presenting `chain`/`key`. Returns the
/// server's certificate and whether the echo came back, or `None` when the handshake failed.
async fn mesh_client(port: u16, chain: &str, key: &str) -> Option<(Vec<u8>, bool)> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile_certs(chain);
    let key = PrivateKeyDer::try_from(pem_der(key)).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Inspect(provider)))
        .with_client_auth_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"kuma".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let name = ServerName::try_from("backend.mesh").unwrap();
    let mut tls = connector.connect(name, tcp).await.ok()?;
    let peer = tls.get_ref().1.peer_certificates()?.first()?.as_ref().to_vec();
    let echoed = ping(&mut tls).await;
    Some((peer, echoed))
}

fn pem_der(pem: &str) -> Vec<u8> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()).next().unwrap().unwrap().contents
}

fn rustls_pemfile_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .map(|p| CertificateDer::from(p.unwrap().contents))
        .collect()
}

/// The URI SANs of a DER certificate, and whether `ca_pem` signed it.
fn uris_and_issuer(der: &[u8], ca_pem: &[u8]) -> (Vec<String>, bool) {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let uris = cert
        .subject_alternative_name()
        .unwrap()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::URI(u) => Some((*u).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let ca_der = pem_der(std::str::from_utf8(ca_pem).unwrap());
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    (uris, cert.verify_signature(Some(ca.public_key())).is_ok())
}

#[tokio::test]
async fn strict_mtls_denies_until_a_permission_allows_and_checks_identities() {
    let dir = tempfile::tempdir().unwrap();
    let two = TwoServices::start(dir.path(), strict()).await;

    // No permission: backend's RBAC refuses web.
    assert!(!two.web_reaches_backend().await);
    eventually("backend's RBAC counts the refusal", WAIT, || async {
        (two.denied().await > 0).then_some(())
    })
    .await;

    // A TrafficPermission allows web within a second; the hop between the sidecars is mTLS.
    put(&two.zone, "/meshes/default/traffic-permissions/web-to-backend", allow_web()).await;
    let took = two.until_reach(true).await;
    assert!(took < Duration::from_secs(1), "allowed after {took:?}");
    let inbound_stats = format!("listener.127.0.0.1_{}.ssl.handshake", two.ports.backend_inbound);
    assert!(stat(&two.backend.admin_socket(), &inbound_stats).await > 0, "{inbound_stats}");
    assert!(stat(&two.web.admin_socket(), "cluster.backend.ssl.handshake").await > 0);

    // From the peer side: a client holding web's mesh certificate gets through and sees
    // backend's SPIFFE identity, signed by the mesh CA.
    let (ca_cert, ca_key) = mesh_ca(&two.zone).await;
    let (chain, key) = mesh_certificate(&ca_cert, &ca_key, "web");
    let (peer, echoed) = mesh_client(two.ports.backend_inbound, &chain, &key).await.unwrap();
    let (uris, signed) = uris_and_issuer(&peer, &ca_cert);
    assert_eq!(uris, ["spiffe://default/backend", "kuma://kuma.io/service/backend"]);
    assert!(signed, "backend's certificate comes from the mesh CA");
    assert!(echoed, "web's identity is allowed");
    // The same client as another service is refused by RBAC; one of another CA by TLS.
    let (chain, key) = mesh_certificate(&ca_cert, &ca_key, "intruder");
    let (_, echoed) = mesh_client(two.ports.backend_inbound, &chain, &key).await.unwrap();
    assert!(!echoed, "a service the permission does not name is refused");
    let (foreign_cert, foreign_key) = foreign_ca();
    let (chain, key) = mesh_certificate(&foreign_cert, &foreign_key, "web");
    let refused = match mesh_client(two.ports.backend_inbound, &chain, &key).await {
        None => true,
        Some((_, echoed)) => !echoed,
    };
    assert!(refused, "a certificate of another CA is refused");
    let fail_verify =
        format!("listener.127.0.0.1_{}.ssl.fail_verify_error", two.ports.backend_inbound);
    eventually("backend counts the failed verification", WAIT, || async {
        (stat(&two.backend.admin_socket(), &fail_verify).await > 0).then_some(())
    })
    .await;
    // STRICT: plaintext straight to the inbound is refused.
    assert!(!through(two.ports.backend_inbound).await);

    // Deleting the permission denies again within a second.
    delete(&two.zone, "/meshes/default/traffic-permissions/web-to-backend").await;
    let took = two.until_reach(false).await;
    assert!(took < Duration::from_secs(1), "denied after {took:?}");

    // A MeshTrafficPermission does the same.
    let mtp = json!({"type": "MeshTrafficPermission", "mesh": "default", "name": "web-to-backend",
        "spec": {"targetRef": {"kind": "MeshService", "name": "backend"},
            "from": [{"targetRef": {"kind": "MeshService", "name": "web"}, "default": {"action": "Allow"}}]}});
    put(&two.zone, "/meshes/default/meshtrafficpermissions/web-to-backend", mtp).await;
    let took = two.until_reach(true).await;
    assert!(took < Duration::from_secs(1), "allowed by the MeshTrafficPermission after {took:?}");
    delete(&two.zone, "/meshes/default/meshtrafficpermissions/web-to-backend").await;
    two.until_reach(false).await;
    two.stop().await;
}

#[tokio::test]
async fn permissive_mtls_also_accepts_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let permissive = json!({"enabledBackend": "ca-1",
        "backends": [{"name": "ca-1", "type": "builtin", "mode": "PERMISSIVE"}]});
    let two = TwoServices::start(dir.path(), permissive).await;
    assert!(through(two.ports.backend_inbound).await, "plaintext straight to the inbound");
    put(&two.zone, "/meshes/default/traffic-permissions/web-to-backend", allow_web()).await;
    two.until_reach(true).await;
    assert!(
        stat(&two.web.admin_socket(), "cluster.backend.ssl.handshake").await > 0,
        "mesh traffic is still mTLS"
    );
    two.stop().await;
}

#[tokio::test]
async fn without_mtls_plain_traffic_passes_and_a_revoked_token_closes_ads() {
    let dir = tempfile::tempdir().unwrap();
    let two = TwoServices::start(dir.path(), Value::Null).await;
    assert!(two.web_reaches_backend().await, "no mTLS, no RBAC");
    assert_eq!(stat(&two.web.admin_socket(), "cluster.backend.ssl.handshake").await, 0);

    let web = two.web.admin_socket();
    assert_eq!(stat(&web, "control_plane.connected_state").await, 1);
    let token = std::fs::read_to_string(dir.path().join("web.token")).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let jti = STANDARD.encode(claims["jti"].as_str().unwrap());
    put(
        &two.zone,
        "/global-secrets/dataplane-token-revocations-default",
        json!({"type": "GlobalSecret", "name": "dataplane-token-revocations-default", "data": jti}),
    )
    .await;
    eventually("web's Envoy loses its ADS stream", WAIT, || async {
        (stat(&web, "control_plane.connected_state").await == 0).then_some(())
    })
    .await;
    let resp = http_client()
        .get(format!("{}/meshes/default/dataplanes/web/xds", two.zone.api))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "no stream, nothing served");
    two.stop().await;
}

#[tokio::test]
async fn a_certificate_rotation_keeps_a_long_lived_mesh_connection_up() {
    let dir = tempfile::tempdir().unwrap();
    let rotating = json!({"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin",
        "dpCert": {"rotation": {"expiration": "6s"}}}]});
    let mut two = TwoServices::start(dir.path(), rotating).await;
    put(&two.zone, "/meshes/default/traffic-permissions/web-to-backend", allow_web()).await;
    two.until_reach(true).await;
    let readiness = two.backend.readiness().await;
    let first = certs_when(&readiness, "backend's first certificate", |_| true).await;
    let first_serial = serial(first["certChain"].as_str().unwrap());

    let mut long_lived = TcpStream::connect(("127.0.0.1", two.ports.web_outbound)).await.unwrap();
    assert!(ping(&mut long_lived).await);
    let rotated = certs_when(&readiness, "backend's rotated certificate", |c| {
        c["certChain"].as_str().is_some_and(|pem| serial(pem) != first_serial)
    })
    .await;
    // Envoy writes serials in lowercase hex without leading zeros.
    let new_serial = serial(rotated["certChain"].as_str().unwrap());
    let new_serial = new_serial.trim_start_matches('0').to_owned();
    // Envoy itself presents the new certificate, got over SDS without a listener drain.
    eventually("backend's Envoy shows the new serial in /certs", WAIT, || async {
        let (200, certs) = admin_get(&two.backend.admin_socket(), "/certs").await? else {
            return None;
        };
        certs.to_lowercase().contains(&new_serial).then_some(())
    })
    .await;
    assert!(ping(&mut long_lived).await, "the connection opened before the rotation still works");
    assert!(two.web_reaches_backend().await, "new connections work with the new certificate");
    two.stop().await;
}
