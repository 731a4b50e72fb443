use std::os::unix::fs::PermissionsExt;

use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DiscoveryRequest};
use envoy_types::pb::envoy::service::secret::v3::secret_discovery_service_client::SecretDiscoveryServiceClient;
use hyper_util::rt::TokioIo;
use time::OffsetDateTime;
use tokio::net::UnixStream;

use super::delta::Delta;
use super::service::Flavour;
use super::sotw::Sotw;
use super::*;
use crate::readiness::Held;

const IDENTITY: &str = "identity_cert:secret:default";
const MESH_CA: &str = "mesh_ca:secret:default";

fn held(chain: &str) -> Held {
    Held {
        cert_chain: chain.to_owned(),
        trust_bundle: "BUNDLE".to_owned(),
        expiry: OffsetDateTime::now_utc(),
        rotate_at: OffsetDateTime::now_utc(),
        uris: vec!["spiffe://default/web".to_owned()],
    }
}

fn source() -> (watch::Sender<Status>, Source) {
    let (tx, rx) = watch::channel(Status::default());
    (tx, Source::new("default", SecretString::from("KEY PEM"), rx))
}

fn set_identity(tx: &watch::Sender<Status>, chain: Option<&str>) {
    tx.send_modify(|s| {
        s.answered = true;
        s.mtls = chain.is_some();
        s.held = chain.map(held);
    });
}

fn decode(any: &Any) -> Secret {
    assert_eq!(any.type_url, SECRET_TYPE_URL);
    Secret::decode(any.value.as_slice()).unwrap()
}

fn sotw_request(names: &[&str], nonce: &str) -> DiscoveryRequest {
    DiscoveryRequest {
        resource_names: names.iter().map(|n| (*n).to_owned()).collect(),
        type_url: SECRET_TYPE_URL.to_owned(),
        response_nonce: nonce.to_owned(),
        ..DiscoveryRequest::default()
    }
}

#[test]
fn the_identity_carries_chain_and_key_and_the_mesh_ca_the_bundle() {
    let (tx, source) = source();
    assert!(source.secrets().is_empty(), "nothing without an identity");
    set_identity(&tx, Some("CHAIN"));
    let secrets = source.secrets();
    assert_eq!(secrets.keys().collect::<Vec<_>>(), [IDENTITY, MESH_CA]);
    let identity = decode(&secrets[IDENTITY].resource);
    let Some(secret::Type::TlsCertificate(cert)) = identity.r#type else { panic!() };
    let text = |d: Option<DataSource>| match d.and_then(|d| d.specifier) {
        Some(data_source::Specifier::InlineString(s)) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(text(cert.certificate_chain), "CHAIN");
    assert_eq!(text(cert.private_key), "KEY PEM");
    let ca = decode(&secrets[MESH_CA].resource);
    let Some(secret::Type::ValidationContext(ca)) = ca.r#type else { panic!() };
    assert_eq!(text(ca.trusted_ca), "BUNDLE");
    assert!(!format!("{source:?}").contains("KEY PEM"), "Debug never shows the key");
    // A new chain is a new version of the identity; the bundle's version stays.
    let before = secrets;
    set_identity(&tx, Some("CHAIN 2"));
    let after = source.secrets();
    assert_ne!(before[IDENTITY].version, after[IDENTITY].version);
    assert_eq!(before[MESH_CA].version, after[MESH_CA].version);
}

#[test]
fn sotw_answers_when_secrets_exist_and_pushes_each_rotation_once() {
    let (tx, source) = source();
    let mut stream = Sotw::default();
    set_identity(&tx, Some("CHAIN 0"));
    assert!(stream.on_change(&source.secrets()).is_none(), "nothing before Envoy asks");
    set_identity(&tx, None);
    assert!(stream.on_request(&sotw_request(&[IDENTITY], ""), &source.secrets()).is_none());
    set_identity(&tx, Some("CHAIN"));
    let first = stream.on_change(&source.secrets()).unwrap();
    assert_eq!(first.resources.len(), 1);
    assert_eq!(decode(&first.resources[0]).name, IDENTITY);
    // The ACK, and a status change that does not touch the secrets, send nothing.
    let ack = DiscoveryRequest {
        version_info: first.version_info.clone(),
        ..sotw_request(&[IDENTITY], &first.nonce)
    };
    assert!(stream.on_request(&ack, &source.secrets()).is_none());
    tx.send_modify(|s| s.regenerations += 1);
    assert!(stream.on_change(&source.secrets()).is_none());
    set_identity(&tx, Some("CHAIN 2"));
    let rotated = stream.on_change(&source.secrets()).unwrap();
    assert_ne!(rotated.version_info, first.version_info);
    assert_ne!(rotated.nonce, first.nonce);
    // A NACK is not answered with the same set again; new names are answered at once.
    let nack = DiscoveryRequest {
        error_detail: Some(envoy_types::pb::google::rpc::Status {
            message: "bad".to_owned(),
            ..Default::default()
        }),
        ..sotw_request(&[IDENTITY], &rotated.nonce)
    };
    assert!(stream.on_request(&nack, &source.secrets()).is_none());
    let both = stream.on_request(&sotw_request(&[IDENTITY, MESH_CA], "2"), &source.secrets());
    assert_eq!(both.unwrap().resources.len(), 2);
    let other = sotw_request(&[IDENTITY], "3");
    let wrong_type = DiscoveryRequest { type_url: "type.googleapis.com/x".to_owned(), ..other };
    assert!(stream.on_request(&wrong_type, &source.secrets()).is_none());
}

#[test]
fn delta_sends_changes_and_removals_only() {
    let (tx, source) = source();
    set_identity(&tx, Some("CHAIN"));
    let mut stream = Delta::default();
    let subscribe = DeltaDiscoveryRequest {
        type_url: SECRET_TYPE_URL.to_owned(),
        resource_names_subscribe: vec![IDENTITY.to_owned(), MESH_CA.to_owned()],
        ..DeltaDiscoveryRequest::default()
    };
    let first = stream.on_request(&subscribe, &source.secrets()).unwrap();
    assert_eq!(first.resources.len(), 2);
    set_identity(&tx, Some("CHAIN 2"));
    let rotated = stream.on_change(&source.secrets()).unwrap();
    assert_eq!(rotated.resources.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), [IDENTITY]);
    assert!(stream.on_change(&source.secrets()).is_none());
    set_identity(&tx, None);
    let removed = stream.on_change(&source.secrets()).unwrap();
    assert!(removed.resources.is_empty());
    assert_eq!(removed.removed_resources, [IDENTITY, MESH_CA]);

    // Envoy reconnecting with the versions it holds gets nothing it already has.
    set_identity(&tx, Some("CHAIN 2"));
    let secrets = source.secrets();
    let mut again = Delta::default();
    let reconnect = DeltaDiscoveryRequest {
        initial_resource_versions: secrets
            .iter()
            .map(|(name, served)| (name.clone(), served.version.clone()))
            .collect(),
        ..subscribe
    };
    assert!(again.on_request(&reconnect, &secrets).is_none());
}

#[tokio::test]
async fn the_socket_is_private_and_a_live_one_is_not_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kuma-sds.sock");
    let listener = bind_private(&path).await.unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let err = bind_private(&path).await.unwrap_err();
    assert!(err.to_string().contains("another process serves on"), "{err}");
    drop(listener);
    // A stale socket file (its owner gone) is replaced.
    let _listener = bind_private(&path).await.unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "").unwrap();
    assert!(bind_private(&file).await.unwrap_err().to_string().contains("is not a socket"));
}

#[tokio::test]
async fn delta_over_the_socket_pushes_a_rotation_on_the_open_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kuma-sds.sock");
    let (tx, source) = source();
    set_identity(&tx, Some("CHAIN"));
    let listener = bind_private(&path).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, source, async {
        let _ = stopped.await;
    }));
    let connector_path = path.clone();
    let channel = tonic::transport::Endpoint::from_static("http://sds")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = connector_path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }))
        .await
        .unwrap();
    let mut client = SecretDiscoveryServiceClient::new(channel);
    let (requests, rx) = tokio::sync::mpsc::channel(4);
    requests
        .send(DeltaDiscoveryRequest {
            type_url: SECRET_TYPE_URL.to_owned(),
            resource_names_subscribe: vec![IDENTITY.to_owned()],
            ..DeltaDiscoveryRequest::default()
        })
        .await
        .unwrap();
    let mut responses = client
        .delta_secrets(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let first = responses.message().await.unwrap().unwrap();
    assert_eq!(first.resources[0].name, IDENTITY);
    set_identity(&tx, Some("CHAIN 2"));
    let second = responses.message().await.unwrap().unwrap();
    assert_ne!(second.resources[0].version, first.resources[0].version);
    let secret = decode(second.resources[0].resource.as_ref().unwrap());
    let Some(secret::Type::TlsCertificate(cert)) = secret.r#type else { panic!() };
    let chain = cert.certificate_chain.and_then(|d| d.specifier);
    assert_eq!(chain, Some(data_source::Specifier::InlineString("CHAIN 2".to_owned())));
    drop((requests, responses, client));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
