//! `shared::net` (and `kuma_core::net`'s client) against a real tonic server (the gRPC health service) on 127.0.0.1:0: the
//! allowlist refusing before TLS, certificate trust, plaintext, handshake timeouts and certificate
//! hot reload. Linux routes all of 127.0.0.0/8 to the loopback, so a client bound to 127.0.0.2 is a
//! second peer address on the same machine.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kuma_core::net::{ChannelSettings, ConnectError, connect};
use kuma_core::shutdown::{self, Trigger};
use kuma_core::tls::{CertKind, CertPair, KeyType, ServerTlsOptions, generate_certificate};
use shared::audit::AuditLog;
use shared::metrics::Metrics;
use shared::net::{ALPN_H2, Allowlist, ClientCerts, ConnInfo, Listener, ServerCert, ServerTls};
use shared::testing::cp::eventually;
use tempfile::TempDir;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tonic::service::InterceptorLayer;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const LISTENER: &str = "kds";
const PATIENCE: Duration = Duration::from_secs(10);

/// A health server behind a `Listener`; stops when dropped.
struct Server {
    addr: SocketAddr,
    /// What the service saw of each request's connection, from the request extensions.
    peers: Arc<Mutex<Vec<ConnInfo>>>,
    metrics: Metrics,
    audit: AuditLog,
    _stop: Trigger,
}

impl Server {
    async fn start(allowlist: &[&str], tls: Option<ServerTls>) -> Self {
        Self::start_with(allowlist, tls, None).await
    }

    async fn start_with(
        allowlist: &[&str],
        tls: Option<ServerTls>,
        handshake_timeout: Option<Duration>,
    ) -> Self {
        let metrics = Metrics::new();
        let audit = AuditLog::memory();
        let allowlist = Allowlist::new(allowlist.iter().map(|n| n.parse().unwrap()).collect());
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut builder = Listener::builder(LISTENER, addr).allowlist(allowlist);
        if let Some(tls) = tls {
            builder = builder.tls(tls);
        }
        if let Some(timeout) = handshake_timeout {
            builder = builder.handshake_timeout(timeout);
        }
        let listener = builder.bind(metrics.clone(), audit.clone()).await.unwrap();
        let addr = listener.local_addr();
        let (stop, shutdown) = shutdown::channel();
        let (_reporter, health) = tonic_health::server::health_reporter();
        let incoming = listener.incoming(shutdown.clone());
        let mut signal = shutdown;
        let peers = Arc::new(Mutex::new(Vec::new()));
        let seen = peers.clone();
        let record_peer = move |request: tonic::Request<()>| {
            if let Some(info) = request.extensions().get::<ConnInfo>() {
                seen.lock().unwrap().push(info.clone());
            }
            Ok(request)
        };
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .layer(InterceptorLayer::new(record_peer))
                .add_service(health)
                .serve_with_incoming_shutdown(incoming, async move { signal.wait().await })
                .await
                .unwrap();
        });
        Self { addr, peers, metrics, audit, _stop: stop }
    }
}

/// A server certificate for `localhost` and 127.0.0.1, and the PEM of the CA that issued it.
fn server_cert() -> (CertPair, String) {
    cert(CertKind::Server, &["localhost", "127.0.0.1"])
}

fn cert(kind: CertKind, hosts: &[&str]) -> (CertPair, String) {
    let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
    let pair = generate_certificate(kind, &hosts, KeyType::Ecdsa, time::OffsetDateTime::now_utc())
        .unwrap();
    // The chain is the leaf then its CA.
    let end = "-----END CERTIFICATE-----";
    let (_leaf, ca) = pair.cert_pem.split_once(end).unwrap();
    let ca = ca.trim_start().to_owned();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    (pair, ca)
}

fn tls(cert: ServerCert) -> ServerTls {
    let options = ServerTlsOptions::default();
    ServerTls { cert, options, alpn: ALPN_H2, client_certs: ClientCerts::None }
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn settings(address: String, root_ca: Option<PathBuf>) -> ChannelSettings {
    ChannelSettings { address, root_ca, skip_verify: false, identity: None, local_ip: None }
}

async fn check_health(settings: &ChannelSettings) -> Result<ServingStatus, ConnectError> {
    let channel = connect(settings).await?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .unwrap();
    Ok(response.into_inner().status())
}

#[tokio::test]
async fn allowed_peer_gets_a_health_response_over_tls() {
    let (pair, ca) = server_cert();
    let dir = TempDir::new().unwrap();
    let ca_path = write(dir.path(), "ca.pem", &ca);
    let tls = tls(ServerCert::fixed(&pair).unwrap());
    let server = Server::start(&["127.0.0.0/8"], Some(tls)).await;

    let by_name =
        settings(format!("grpcs://localhost:{}", server.addr.port()), Some(ca_path.clone()));
    assert_eq!(check_health(&by_name).await.unwrap(), ServingStatus::Serving);
    let by_ip = settings(format!("grpcs://127.0.0.1:{}", server.addr.port()), Some(ca_path));
    assert_eq!(check_health(&by_ip).await.unwrap(), ServingStatus::Serving);
    assert_eq!(server.metrics.connections_refused(LISTENER), 0);
}

#[tokio::test]
async fn peer_address_outside_the_allowlist_is_refused_and_the_address_not_the_port_decides() {
    let (pair, ca) = server_cert();
    let dir = TempDir::new().unwrap();
    let ca_path = write(dir.path(), "ca.pem", &ca);
    let tls = tls(ServerCert::fixed(&pair).unwrap());
    let server = Server::start(&["127.0.0.2/32"], Some(tls)).await;
    let mut client = settings(format!("grpcs://127.0.0.1:{}", server.addr.port()), Some(ca_path));

    let err = check_health(&client).await.unwrap_err();
    assert!(matches!(err, ConnectError::Refused { .. }), "{err:?}");
    let audit = eventually("the refusal to be counted and audited", PATIENCE, || async {
        let audit = server.audit.recorded();
        (server.metrics.connections_refused(LISTENER) == 1 && !audit.is_empty()).then_some(audit)
    })
    .await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["event"], "connectionRefused");
    assert_eq!(audit[0]["listener"], LISTENER);
    assert!(audit[0]["source"].as_str().unwrap().starts_with("127.0.0.1:"));

    client.local_ip = Some(IpAddr::from([127, 0, 0, 2]));
    assert_eq!(check_health(&client).await.unwrap(), ServingStatus::Serving);
    assert_eq!(server.metrics.connections_refused(LISTENER), 1);
    let peers = server.peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 1, "{peers:?}");
    assert_eq!(peers[0].remote_addr.ip(), IpAddr::from([127, 0, 0, 2]));
    assert_eq!(peers[0].local_addr, server.addr);
    assert!(peers[0].tls);
    assert!(peers[0].peer_certificates.is_none());
}

#[tokio::test]
async fn refused_peer_is_closed_without_receiving_a_byte() {
    let (pair, _ca) = server_cert();
    let tls = tls(ServerCert::fixed(&pair).unwrap());
    let server = Server::start(&["127.0.0.2/32"], Some(tls)).await;

    // The client sends nothing: a TLS server would wait for its ClientHello, the allowlist does not.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the refused connection was left open");
    match read {
        Ok(n) => assert_eq!(n, 0),
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}"),
    }
    assert!(received.is_empty());
}

#[tokio::test]
async fn client_with_the_wrong_root_ca_gets_untrusted_server_and_skip_verify_connects() {
    let (pair, _ca) = server_cert();
    let (_other_pair, other_ca) = server_cert();
    let dir = TempDir::new().unwrap();
    let wrong_ca = write(dir.path(), "other-ca.pem", &other_ca);
    let tls = tls(ServerCert::fixed(&pair).unwrap());
    let server = Server::start(&[], Some(tls)).await;
    let address = format!("grpcs://127.0.0.1:{}", server.addr.port());

    let err = check_health(&settings(address.clone(), Some(wrong_ca))).await.unwrap_err();
    // Both CAs carry the same name, so rustls finds the issuer and then rejects its signature.
    assert!(
        matches!(
            &err,
            ConnectError::UntrustedServer { source: rustls::Error::InvalidCertificate(_), .. }
        ),
        "{err:?}"
    );

    let mut skip = settings(address, None);
    skip.skip_verify = true;
    assert_eq!(check_health(&skip).await.unwrap(), ServingStatus::Serving);
}

#[tokio::test]
async fn plaintext_listener_serves_grpc() {
    let server = Server::start(&["127.0.0.1/32"], None).await;
    let plain = settings(format!("grpc://127.0.0.1:{}", server.addr.port()), None);
    assert_eq!(check_health(&plain).await.unwrap(), ServingStatus::Serving);
    let peers = server.peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 1, "{peers:?}");
    assert!(!peers[0].tls);
    assert_eq!(peers[0].remote_addr.ip(), IpAddr::from([127, 0, 0, 1]));
}

#[tokio::test]
async fn silent_peer_is_dropped_after_the_handshake_timeout() {
    let (pair, _ca) = server_cert();
    let tls = tls(ServerCert::fixed(&pair).unwrap());
    let server = Server::start_with(&[], Some(tls), Some(Duration::from_millis(200))).await;

    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the silent connection was never closed");
    assert!(received.is_empty());
    eventually("the failed handshake to be counted", PATIENCE, || async {
        (server.metrics.tls_handshake_failures(LISTENER) == 1).then_some(())
    })
    .await;
    assert_eq!(server.metrics.connections_refused(LISTENER), 0);
}

#[tokio::test]
async fn nobody_listening_is_unreachable_and_bad_addresses_are_rejected() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let err = check_health(&settings(format!("grpcs://127.0.0.1:{port}"), None)).await.unwrap_err();
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{err:?}");

    for address in ["https://127.0.0.1:5685", "grpcs://127.0.0.1", "127.0.0.1:5685", "grpc://h:1/x"]
    {
        let err = check_health(&settings(address.to_owned(), None)).await.unwrap_err();
        assert!(matches!(err, ConnectError::Address { .. }), "{address}: {err:?}");
    }
}

#[tokio::test]
async fn replaced_certificate_files_are_served_without_a_restart() {
    let (old_pair, old_ca) = server_cert();
    let (new_pair, new_ca) = server_cert();
    let dir = TempDir::new().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let cert_path = write(&certs, "tls.crt", &old_pair.cert_pem);
    let key_path =
        write(&certs, "tls.key", secrecy::ExposeSecret::expose_secret(&old_pair.key_pem));
    let old_ca = write(dir.path(), "old-ca.pem", &old_ca);
    let new_ca = write(dir.path(), "new-ca.pem", &new_ca);
    let cert = ServerCert::from_files(&cert_path, &key_path).unwrap();
    let server = Server::start(&[], Some(tls(cert))).await;
    let address = format!("grpcs://127.0.0.1:{}", server.addr.port());
    let trusts_old = settings(address.clone(), Some(old_ca));
    let trusts_new = settings(address, Some(new_ca));

    assert_eq!(check_health(&trusts_old).await.unwrap(), ServingStatus::Serving);
    let err = check_health(&trusts_new).await.unwrap_err();
    assert!(matches!(err, ConnectError::UntrustedServer { .. }), "{err:?}");

    // Replace both files the way tools do: write aside, then rename over the old name.
    let staged_key =
        write(dir.path(), "tls.key.new", secrecy::ExposeSecret::expose_secret(&new_pair.key_pem));
    let staged_cert = write(dir.path(), "tls.crt.new", &new_pair.cert_pem);
    std::fs::rename(staged_key, &key_path).unwrap();
    std::fs::rename(staged_cert, &cert_path).unwrap();

    eventually("the new certificate to be served", PATIENCE, || async {
        check_health(&trusts_new).await.ok()
    })
    .await;
    let err = check_health(&trusts_old).await.unwrap_err();
    assert!(matches!(err, ConnectError::UntrustedServer { .. }), "{err:?}");
}

#[tokio::test]
async fn client_certificate_reaches_the_service_in_the_request_extensions() {
    let (pair, ca) = server_cert();
    let (zone, zone_ca) = cert(CertKind::Client, &["zone-1"]);
    let dir = TempDir::new().unwrap();
    let ca_path = write(dir.path(), "ca.pem", &ca);
    let mut tls = tls(ServerCert::fixed(&pair).unwrap());
    tls.client_certs = ClientCerts::Optional(zone_ca);
    let server = Server::start(&[], Some(tls)).await;
    let address = format!("grpcs://127.0.0.1:{}", server.addr.port());

    let mut with_identity = settings(address.clone(), Some(ca_path.clone()));
    with_identity.identity = Some(zone.clone());
    assert_eq!(check_health(&with_identity).await.unwrap(), ServingStatus::Serving);
    // The certificate is optional: a client without one still gets through.
    let anonymous = settings(address, Some(ca_path));
    assert_eq!(check_health(&anonymous).await.unwrap(), ServingStatus::Serving);

    let peers = server.peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 2, "{peers:?}");
    let presented = peers[0].peer_certificates.as_deref().unwrap();
    assert_eq!(presented[0], zone.chain().unwrap()[0]);
    assert!(peers[1].peer_certificates.is_none());
}

#[tokio::test]
async fn a_plain_port_dialed_as_tls_says_so() {
    let (_, ca) = server_cert();
    let dir = TempDir::new().unwrap();
    let ca_path = write(dir.path(), "ca.pem", &ca);
    let server = Server::start(&[], None).await;
    let client = settings(format!("grpcs://127.0.0.1:{}", server.addr.port()), Some(ca_path));
    let err = check_health(&client).await.unwrap_err();
    assert!(matches!(err, ConnectError::NotTls { .. }), "{err:?}");
    assert!(err.to_string().contains("answered in plain text, not TLS: is this the right port?"));
}
