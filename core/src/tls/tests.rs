use std::fs;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, ProtocolVersion, ServerConnection};
use time::macros::datetime;

use super::*;

fn server_pair(key_type: KeyType) -> CertPair {
    let hosts = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    generate_certificate(CertKind::Server, &hosts, key_type, datetime!(2025-06-01 0:00 UTC))
        .unwrap()
}

/// The CA (last certificate of the chain) as PEM, what a client trusts.
fn ca_pem(pair: &CertPair) -> Vec<u8> {
    let start = pair.cert_pem.rfind("-----BEGIN CERTIFICATE-----").unwrap();
    pair.cert_pem.as_bytes()[start..].to_vec()
}

fn tls12_only_client(ca: &[u8]) -> rustls::ClientConfig {
    let roots = server::root_store(ca, "test").unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth()
}

/// Runs a whole handshake in memory and returns the negotiated version.
fn handshake(
    client: rustls::ClientConfig,
    server: Arc<rustls::ServerConfig>,
    name: &str,
) -> Result<ProtocolVersion, rustls::Error> {
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let mut client = Connection::from(ClientConnection::new(Arc::new(client), name)?);
    let mut server = Connection::from(ServerConnection::new(server)?);
    // A TLS 1.3 handshake needs two round trips, TLS 1.2 three; more means a stuck loop.
    for _ in 0..5 {
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(client.protocol_version().unwrap());
        }
        pump(&mut client, &mut server)?;
        pump(&mut server, &mut client)?;
    }
    panic!("handshake did not finish");
}

fn pump(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut slice = buf.as_slice();
    while !slice.is_empty() {
        to.read_tls(&mut slice).unwrap();
    }
    to.process_new_packets().map(drop)
}

#[test]
fn handshake_succeeds_with_the_generated_chain() {
    for key_type in [KeyType::Ecdsa, KeyType::Rsa] {
        let pair = server_pair(key_type);
        let server =
            server_config(&pair, &ServerTlsOptions::default(), ClientAuth::None, &[b"h2"]).unwrap();
        let client = client_config(Some(&ca_pem(&pair))).unwrap();
        assert_eq!(
            handshake(client.clone(), server.clone(), "localhost"),
            Ok(ProtocolVersion::TLSv1_3)
        );
        assert_eq!(handshake(client, server, "127.0.0.1"), Ok(ProtocolVersion::TLSv1_3));
    }
}

#[test]
fn tls12_client_reaches_a_default_server() {
    let pair = server_pair(KeyType::Ecdsa);
    let server = server_config(&pair, &ServerTlsOptions::default(), ClientAuth::None, &[]).unwrap();
    let version = handshake(tls12_only_client(&ca_pem(&pair)), server, "localhost");
    assert_eq!(version, Ok(ProtocolVersion::TLSv1_2));
}

#[test]
fn tls13_only_server_refuses_a_tls12_only_client() {
    let pair = server_pair(KeyType::Ecdsa);
    let opts = ServerTlsOptions { min_version: Version::Tls13, ..ServerTlsOptions::default() };
    let server = server_config(&pair, &opts, ClientAuth::None, &[]).unwrap();
    let err = handshake(tls12_only_client(&ca_pem(&pair)), server, "localhost").unwrap_err();
    assert!(matches!(err, rustls::Error::PeerIncompatible(_)), "{err:?}");
}

#[test]
fn client_rejects_a_server_outside_its_roots_or_names() {
    let pair = server_pair(KeyType::Ecdsa);
    let server = server_config(&pair, &ServerTlsOptions::default(), ClientAuth::None, &[]).unwrap();
    let stranger = server_pair(KeyType::Ecdsa);
    let client = client_config(Some(&ca_pem(&stranger))).unwrap();
    let err = handshake(client, server.clone(), "localhost").unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err:?}");

    let client = client_config(Some(&ca_pem(&pair))).unwrap();
    let err = handshake(client, server.clone(), "other.example").unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err:?}");

    let err = handshake(client_config(None).unwrap(), server.clone(), "localhost").unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err:?}");

    let skip = dangerous_unverified_client_config().unwrap();
    assert!(handshake(skip, server, "other.example").is_ok());
}

#[test]
fn required_client_auth_refuses_a_client_without_a_certificate() {
    let pair = server_pair(KeyType::Ecdsa);
    let client_ca = ca_pem(&server_pair(KeyType::Ecdsa));
    let client = client_config(Some(&ca_pem(&pair))).unwrap();
    let opts = ServerTlsOptions::default();

    let required = server_config(&pair, &opts, ClientAuth::Required(&client_ca), &[]).unwrap();
    let err = handshake(client.clone(), required, "localhost").unwrap_err();
    assert!(matches!(err, rustls::Error::NoCertificatesPresented), "{err:?}");

    let optional = server_config(&pair, &opts, ClientAuth::Optional(&client_ca), &[]).unwrap();
    assert!(handshake(client, optional, "localhost").is_ok());
}

#[test]
fn reloaded_certificate_serves_new_handshakes() {
    let first = server_pair(KeyType::Ecdsa);
    let second = server_pair(KeyType::Ecdsa);
    let cert = ReloadingCert::new(&first).unwrap();
    let server =
        reloading_server_config(cert.clone(), &ServerTlsOptions::default(), ClientAuth::None, &[])
            .unwrap();
    let trusts_second = client_config(Some(&ca_pem(&second))).unwrap();
    assert!(handshake(trusts_second.clone(), server.clone(), "localhost").is_err());

    cert.reload(&second).unwrap();
    assert!(handshake(trusts_second, server, "localhost").is_ok());

    let broken = CertPair { cert_pem: second.cert_pem.clone(), key_pem: first.key_pem.clone() };
    assert!(matches!(cert.reload(&broken), Err(Error::KeyMismatch { .. })));
    assert_eq!(cert.current().cert, second.chain().unwrap(), "old certificate stays");
}

#[test]
fn load_pair_names_the_file_that_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let pair = server_pair(KeyType::Ecdsa);
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    fs::write(&cert, &pair.cert_pem).unwrap();
    fs::write(&key, pair.key_pem.expose_secret()).unwrap();
    let loaded = load_pair(&cert, &key).unwrap();
    assert_eq!(loaded.cert_pem, pair.cert_pem);

    let missing = dir.path().join("nope.crt");
    let err = load_pair(&missing, &key).unwrap_err();
    assert_eq!(err.to_string(), format!("reading {}", missing.display()));

    let err = load_pair(&key, &key).unwrap_err();
    assert_eq!(err.to_string(), format!("no certificate in PEM {}", key.display()));

    let err = load_pair(&cert, &cert).unwrap_err();
    assert_eq!(err.to_string(), format!("no private key in PEM {}", cert.display()));

    let other = server_pair(KeyType::Ecdsa);
    fs::write(&key, other.key_pem.expose_secret()).unwrap();
    let err = load_pair(&cert, &key).unwrap_err();
    let want = format!("key {} does not match certificate {}", key.display(), cert.display());
    assert_eq!(err.to_string(), want);
}

#[test]
fn debug_output_hides_the_key() {
    let pair = server_pair(KeyType::Ecdsa);
    let debug = format!("{pair:?}");
    assert!(debug.contains("[redacted]"));
    assert!(!debug.contains("PRIVATE KEY"));
}
