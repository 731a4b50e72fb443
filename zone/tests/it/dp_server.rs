//! The DP server of an in-process zone, spoken to by a tonic client over TLS on loopback:
//! identity by CSR, refusals with Kuma's messages, rotation, live revocation and insights.

use std::ops::Deref;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kuma_core::ca;
use kuma_core::net::ChannelSettings;
use kuma_core::resources::ResourceType;
use proto::kumars::dp::v1 as pb;
use proto::kumars::dp::v1::cp_message::Kind;
use proto::kumars::dp::v1::dataplane_service_client::DataplaneServiceClient;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{eventually, http_client};
use store::Key;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

const WAIT: Duration = Duration::from_secs(10);

/// The zone under test (a `testkit::Zone`), with the helpers the DP server tests share.
pub(super) struct Zone(testkit::Zone);

impl Deref for Zone {
    type Target = testkit::Zone;

    fn deref(&self) -> &testkit::Zone {
        &self.0
    }
}

impl Zone {
    pub(super) async fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[]).await
    }

    pub(super) async fn start_with(dir: &Path, env: &[(&str, &str)]) -> Self {
        Self(testkit::Zone::start(dir, env).await)
    }

    pub(super) async fn stop(self) {
        self.0.stop().await;
    }

    pub(super) async fn put(&self, path: &str, body: Value) {
        let resp =
            http_client().put(format!("{}{path}", self.api)).json(&body).send().await.unwrap();
        let status = resp.status();
        assert!(status.is_success(), "PUT {path}: {status} {}", resp.text().await.unwrap());
    }

    pub(super) async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = http_client().get(format!("{}{path}", self.api)).send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub(super) async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.diagnostics());
        http_client().get(url).send().await.unwrap().text().await.unwrap()
    }

    pub(super) async fn token(&self, body: Value) -> String {
        let url = format!("{}/tokens/dataplane", self.api);
        let resp = http_client().post(url).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.unwrap()
    }

    /// A mesh with a builtin CA (certificates valid for `expiration`), and the Dataplane web-01.
    pub(super) async fn mesh_with_web(&self, mesh: &str, expiration: &str) {
        let dp_cert = json!({"rotation": {"expiration": expiration}});
        self.put(
            &format!("/meshes/{mesh}"),
            json!({"type": "Mesh", "name": mesh, "mtls": {"enabledBackend": "ca-1", "backends": [
                {"name": "ca-1", "type": "builtin", "dpCert": dp_cert}]}}),
        )
        .await;
        self.put(&format!("/meshes/{mesh}/dataplanes/web-01"), web(mesh)).await;
    }

    async fn client(&self) -> DataplaneServiceClient<Channel> {
        let settings = ChannelSettings {
            address: format!("grpcs://localhost:{}", self.dp_server.port()),
            root_ca: Some(self.ca.clone()),
            skip_verify: false,
            identity: None,
            local_ip: None,
        };
        DataplaneServiceClient::new(kuma_core::net::connect(&settings).await.unwrap())
    }
}

fn web(mesh: &str) -> Value {
    json!({"type": "Dataplane", "mesh": mesh, "name": "web-01", "networking": {
        "address": "10.0.0.1",
        "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web", "version": "v1"}}]}})
}

/// An open session: what we send, and what the server sends back.
pub(super) struct Session {
    tx: mpsc::Sender<pb::DpMessage>,
    rx: Streaming<pb::CpMessage>,
}

impl Session {
    pub(super) async fn open(
        zone: &Zone,
        token: &str,
        mesh: &str,
        resource_json: &str,
    ) -> Result<Self, Status> {
        let hello = pb::Hello {
            mesh: mesh.into(),
            name: "web-01".into(),
            resource_json: resource_json.into(),
            version: "test".into(),
            ..Default::default()
        };
        Self::open_with(zone, Some(&format!("Bearer {token}")), hello).await
    }

    pub(super) async fn open_with(
        zone: &Zone,
        authorization: Option<&str>,
        hello: pb::Hello,
    ) -> Result<Self, Status> {
        let (tx, rx) = mpsc::channel(4);
        tx.send(pb::DpMessage { kind: Some(pb::dp_message::Kind::Hello(hello)) }).await.unwrap();
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        if let Some(value) = authorization {
            request.metadata_mut().insert("authorization", value.parse().unwrap());
        }
        let rx = zone.client().await.session(request).await?.into_inner();
        Ok(Self { tx, rx })
    }

    pub(super) async fn next(&mut self) -> Result<Kind, Status> {
        let message =
            tokio::time::timeout(WAIT, self.rx.message()).await.expect("a message in time");
        Ok(message?.expect("the stream is open").kind.unwrap())
    }

    async fn send_csr(&mut self) {
        let key = rcgen::KeyPair::generate().unwrap();
        let csr = rcgen::CertificateParams::default().serialize_request(&key).unwrap();
        let csr_der = csr.der().to_vec();
        let message = pb::dp_message::Kind::Csr(pb::CertificateRequest { csr_der });
        self.tx.send(pb::DpMessage { kind: Some(message) }).await.unwrap();
    }

    pub(super) async fn csr(&mut self) -> pb::Identity {
        self.send_csr().await;
        match self.next().await.unwrap() {
            Kind::Identity(identity) => identity,
            other => panic!("expected an Identity, got {other:?}"),
        }
    }
}

pub(super) fn jti(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

/// Whether the leaf of `identity` was signed by the first certificate of its trust bundle.
pub(super) fn verifies(identity: &pb::Identity) -> bool {
    let (_, leaf) = x509_parser::pem::parse_x509_pem(identity.cert_chain_pem.as_bytes()).unwrap();
    let (_, root) = x509_parser::pem::parse_x509_pem(identity.trust_bundle_pem.as_bytes()).unwrap();
    let leaf = leaf.parse_x509().unwrap();
    let root = root.parse_x509().unwrap();
    leaf.verify_signature(Some(root.public_key())).is_ok()
}

#[tokio::test]
async fn a_valid_token_gets_an_identity_for_a_csr() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.mesh_with_web("default", "1h").await;
    let token = zone.token(json!({"name": "web-01", "mesh": "default"})).await;
    let mut session = Session::open(&zone, &token, "default", "").await.unwrap();
    match session.next().await.unwrap() {
        Kind::Rotate(rotate) => assert_eq!(rotate.reason, "initial"),
        other => panic!("expected RotateRequested, got {other:?}"),
    }
    let identity = session.csr().await;
    assert_eq!(
        identity.uris,
        ["spiffe://default/web", "kuma://kuma.io/service/web", "kuma://version/v1"]
    );
    assert_eq!(identity.backend, "ca-1");
    assert!(verifies(&identity));
    let (not_after, rotate_at) = (identity.not_after.unwrap(), identity.rotate_at.unwrap());
    assert!(rotate_at.seconds < not_after.seconds);
    let metrics = zone.metrics().await;
    assert!(metrics.contains("kuma_dp_certificates_issued_total 1"), "{metrics}");
    assert!(metrics.contains("kuma_dps_connected 1"), "{metrics}");
    let soonest = format!(
        "kuma_dp_certificate_soonest_expiry_timestamp_seconds {}",
        identity.not_after.unwrap().seconds
    );
    assert!(metrics.contains(&soonest), "{metrics}");
    assert!(metrics.contains("kuma_dp_certificate_issue_seconds_count 1"), "{metrics}");
    drop(session);
    eventually("the session's certificate to leave the expiry gauge", WAIT, || async {
        let metrics = zone.metrics().await;
        metrics.contains("kuma_dp_certificate_soonest_expiry_timestamp_seconds 0").then_some(())
    })
    .await;
    zone.stop().await;
}

#[tokio::test]
async fn a_ca_that_does_not_load_is_reported_to_the_proxy_without_its_details() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.mesh_with_web("default", "1h").await;
    let token = zone.token(json!({"name": "web-01", "mesh": "default"})).await;
    let mut session = Session::open(&zone, &token, "default", "").await.unwrap();
    assert!(matches!(session.next().await.unwrap(), Kind::Rotate(_)));
    // The CA's key leaves the store (a mistaken delete, a broken sync): the CA no longer loads.
    let key_name = ca::builtin_key_secret_name("default", "ca-1");
    zone.store.delete(&Key::resource(ResourceType::Secret, "default", &key_name)).await.unwrap();
    session.send_csr().await;
    let status = session.next().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        status.message(),
        "the control plane could not issue a certificate; it logged why, retry later"
    );
    assert!(!status.message().contains(&key_name), "{}", status.message());
    zone.stop().await;
}

#[tokio::test]
async fn tokens_that_do_not_match_are_refused_with_kumas_messages() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.mesh_with_web("default", "1h").await;
    zone.mesh_with_web("other", "1h").await;
    let cases = [
        (
            json!({"name": "web-02", "mesh": "default"}),
            Code::PermissionDenied,
            "proxy name from requestor: web-01 is different than in token: web-02",
        ),
        (
            json!({"mesh": "other"}),
            Code::Unauthenticated,
            "token signature is invalid: crypto/rsa: verification error",
        ),
        (
            json!({"mesh": "default", "tags": {"version": ["v2"]}}),
            Code::PermissionDenied,
            "dataplane contains tag \"version\" with value \"v1\" which is not allowed with this \
             token. Allowed values in token are [\"v2\"]",
        ),
    ];
    for (claims, code, message) in cases {
        let token = zone.token(claims.clone()).await;
        let err = Session::open(&zone, &token, "default", "").await.err().unwrap();
        assert_eq!(err.code(), code, "{claims}: {err:?}");
        assert!(err.message().contains(message), "{claims}: {}", err.message());
    }
    let token = zone.token(json!({"mesh": "default"})).await;
    let accepted = Session::open(&zone, &token, "default", "").await;
    assert!(accepted.is_ok(), "a mesh-wide token is accepted");
    let metrics = zone.metrics().await;
    let claims = "kuma_auth_failures_total{subject=\"dataplane\",reason=\"claims\"} 2";
    assert!(metrics.contains(claims), "{metrics}");
    let signature = "kuma_auth_failures_total{subject=\"dataplane\",reason=\"bad_signature\"} 1";
    assert!(metrics.contains(signature), "{metrics}");
    drop(accepted);
    zone.stop().await;
}

#[tokio::test]
async fn an_unknown_dataplane_is_refused_and_a_given_one_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.put(
        "/meshes/default",
        json!({"type": "Mesh", "name": "default", "mtls": {"enabledBackend": "ca-1",
            "backends": [{"name": "ca-1", "type": "builtin"}]}}),
    )
    .await;
    let token = zone.token(json!({"name": "web-01", "mesh": "default"})).await;
    let err = Session::open(&zone, &token, "default", "").await.err().unwrap();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(
        err.message(),
        "resource \"default.web-01\" not found; create a Dataplane in Kuma CP first or pass it \
         as an argument to kuma-dp"
    );
    let mut session =
        Session::open(&zone, &token, "default", &web("default").to_string()).await.unwrap();
    assert!(matches!(session.next().await.unwrap(), Kind::Rotate(_)));
    assert_eq!(session.csr().await.uris[0], "spiffe://default/web");
    let (status, _) = zone.get("/meshes/default/dataplanes/web-01").await;
    assert_eq!(status, StatusCode::OK);
    drop(session);
    zone.stop().await;
}

#[tokio::test]
async fn a_mesh_without_mtls_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.put("/meshes/default", json!({"type": "Mesh", "name": "default"})).await;
    zone.put("/meshes/default/dataplanes/web-01", web("default")).await;
    let token = zone.token(json!({"name": "web-01", "mesh": "default"})).await;
    let mut session = Session::open(&zone, &token, "default", "").await.unwrap();
    assert!(matches!(session.next().await.unwrap(), Kind::MtlsDisabled(_)));
    drop(session);
    zone.stop().await;
}

#[tokio::test]
async fn revoking_the_token_ends_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.mesh_with_web("default", "1h").await;
    let token = zone.token(json!({"name": "web-01", "mesh": "default"})).await;
    let mut session = Session::open(&zone, &token, "default", "").await.unwrap();
    assert!(matches!(session.next().await.unwrap(), Kind::Rotate(_)));
    session.csr().await;
    let data = STANDARD.encode(jti(&token));
    zone.put(
        "/global-secrets/dataplane-token-revocations-default",
        json!({"type": "GlobalSecret", "name": "dataplane-token-revocations-default", "data": data}),
    )
    .await;
    let ended = tokio::time::timeout(Duration::from_secs(2), session.rx.message()).await;
    let err = ended.expect("the stream ends within 2 s").err().unwrap();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("token is revoked"), "{}", err.message());
    let err = Session::open(&zone, &token, "default", "").await.err().unwrap();
    assert_eq!(err.code(), Code::Unauthenticated);
    zone.stop().await;
}

#[tokio::test]
async fn certificates_rotate_and_the_insight_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.mesh_with_web("default", "2s").await;
    let token = zone.token(json!({"name": "web-01", "mesh": "default"})).await;
    let mut session = Session::open(&zone, &token, "default", "").await.unwrap();
    assert!(matches!(session.next().await.unwrap(), Kind::Rotate(_)));
    let first = session.csr().await;
    let rotate_at = first.rotate_at.unwrap();
    let at = time::OffsetDateTime::from_unix_timestamp(rotate_at.seconds).unwrap()
        + time::Duration::nanoseconds(i64::from(rotate_at.nanos));
    let left = (at - time::OffsetDateTime::now_utc()).max(time::Duration::ZERO);
    assert!(left <= time::Duration::seconds(2), "rotate_at is within the 2 s validity");
    tokio::time::sleep(left.unsigned_abs()).await;
    let second = session.csr().await;
    assert_ne!(first.cert_chain_pem, second.cert_chain_pem);
    let overview = eventually("an insight with two certificates", WAIT, || async {
        let (status, body) = zone.get("/meshes/default/dataplanes/web-01/_overview").await;
        let count = body["dataplaneInsight"]["mTLS"]["certificateRegenerations"].as_u64();
        (status == StatusCode::OK && count >= Some(2)).then_some(body)
    })
    .await;
    assert_eq!(overview["type"], "DataplaneOverview");
    assert_eq!(overview["dataplane"]["networking"]["address"], "10.0.0.1");
    let subscriptions = overview["dataplaneInsight"]["subscriptions"].as_array().unwrap();
    assert!(subscriptions[0]["disconnectTime"].is_null());
    assert_eq!(subscriptions[0]["version"]["kumaDp"]["version"], "test");
    // The mesh and service insights follow the session through the change feed.
    let mesh = eventually("the mesh insight to count the proxy online", WAIT, || async {
        let (_, body) = zone.get("/mesh-insights/default").await;
        (body["dataplanes"]["online"] == 1).then_some(body)
    })
    .await;
    assert_eq!(mesh["dpVersions"]["kumaDp"]["test"]["online"], 1);
    assert_eq!(mesh["mTLS"]["issuedBackends"]["ca-1"]["total"], 1, "{mesh}");
    let (_, services) = zone.get("/meshes/default/service-insights").await;
    assert_eq!(services["items"][0]["name"], "web");
    assert_eq!(services["items"][0]["status"], "online");
    drop(session);
    eventually("the disconnect recorded", WAIT, || async {
        let (_, body) = zone.get("/meshes/default/dataplanes/_overview").await;
        let item = &body["items"][0];
        item["dataplaneInsight"]["subscriptions"][0]["disconnectTime"].is_string().then_some(())
    })
    .await;
    zone.stop().await;
}

#[tokio::test]
async fn changed_tags_or_mtls_ask_again() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.mesh_with_web("default", "1h").await;
    let token = zone.token(json!({"name": "web-01", "mesh": "default"})).await;
    let mut session = Session::open(&zone, &token, "default", "").await.unwrap();
    assert!(matches!(session.next().await.unwrap(), Kind::Rotate(_)));
    session.csr().await;
    let mut changed = web("default");
    changed["networking"]["inbound"][0]["tags"]["version"] = json!("v2");
    zone.put("/meshes/default/dataplanes/web-01", changed).await;
    match session.next().await.unwrap() {
        Kind::Rotate(rotate) => assert_eq!(rotate.reason, "dataplane changed"),
        other => panic!("expected RotateRequested, got {other:?}"),
    }
    assert!(session.csr().await.uris.contains(&"kuma://version/v2".to_owned()));
    zone.put("/meshes/default", json!({"type": "Mesh", "name": "default"})).await;
    assert!(matches!(session.next().await.unwrap(), Kind::MtlsDisabled(_)));
    drop(session);
    zone.stop().await;
}

#[tokio::test]
async fn replacing_a_dataplane_needs_a_token_for_the_stored_one() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.mesh_with_web("default", "1h").await;
    // Allowed for the new tags, not for the stored ones (version v1).
    let token = zone.token(json!({"mesh": "default", "tags": {"version": ["v9"]}})).await;
    let mut hijack = web("default");
    hijack["networking"]["inbound"][0]["tags"]["version"] = json!("v9");
    let err = Session::open(&zone, &token, "default", &hijack.to_string()).await.err().unwrap();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("with value \"v1\""), "{}", err.message());
    let (_, stored) = zone.get("/meshes/default/dataplanes/web-01").await;
    assert_eq!(stored["networking"]["inbound"][0]["tags"]["version"], "v1");
    zone.stop().await;
}

#[tokio::test]
async fn the_authorization_header_and_proxy_type_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.mesh_with_web("default", "1h").await;
    let hello = pb::Hello { mesh: "default".into(), name: "web-01".into(), ..Default::default() };
    let err = Session::open_with(&zone, None, hello.clone()).await.err().unwrap();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(err.message(), "request must have exactly 1 \"authorization\" header, got 0");
    // Kuma's Envoy sends the raw token, without "Bearer ".
    let token = zone.token(json!({"name": "web-01", "mesh": "default"})).await;
    let mut session = Session::open_with(&zone, Some(&token), hello.clone()).await.unwrap();
    assert!(matches!(session.next().await.unwrap(), Kind::Rotate(_)));
    // A dataplane token does not make an ingress: zone ingresses need a zone token.
    let ingress = pb::Hello { proxy_type: pb::ProxyType::Ingress.into(), ..hello };
    let err = Session::open_with(&zone, Some(&token), ingress).await.err().unwrap();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    drop(session);
    zone.stop().await;
}

#[tokio::test]
async fn authentication_none_needs_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let zone =
        Zone::start_with(dir.path(), &[("KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE", "none")]).await;
    zone.mesh_with_web("default", "1h").await;
    let hello = pb::Hello { mesh: "default".into(), name: "web-01".into(), ..Default::default() };
    let mut session = Session::open_with(&zone, None, hello).await.unwrap();
    assert!(matches!(session.next().await.unwrap(), Kind::Rotate(_)));
    assert_eq!(session.csr().await.uris[0], "spiffe://default/web");
    drop(session);
    zone.stop().await;
}

#[tokio::test]
async fn an_expiring_token_ends_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.mesh_with_web("default", "1h").await;
    let token = zone.token(json!({"name": "web-01", "mesh": "default", "validFor": "2s"})).await;
    let mut session = Session::open(&zone, &token, "default", "").await.unwrap();
    assert!(matches!(session.next().await.unwrap(), Kind::Rotate(_)));
    let ended = tokio::time::timeout(Duration::from_secs(5), session.rx.message()).await;
    let err = ended.expect("the stream ends at the token's expiry").err().unwrap();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("token is expired"), "{}", err.message());
    zone.stop().await;
}

impl Zone {
    /// A zone token issued by this (non-federated) zone.
    async fn zone_token(&self, body: Value) -> String {
        let url = format!("{}/tokens/zone", self.api);
        let resp = http_client().post(url).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.unwrap()
    }
}

fn ingress_hello(name: &str, resource: Value) -> pb::Hello {
    pb::Hello {
        name: name.into(),
        proxy_type: pb::ProxyType::Ingress.into(),
        resource_json: resource.to_string(),
        version: "test".into(),
        ..Default::default()
    }
}

fn ingress(name: &str) -> Value {
    json!({"type": "ZoneIngress", "name": name,
        "networking": {"address": "10.0.0.9", "port": 10001,
            "advertisedAddress": "203.0.113.9", "advertisedPort": 443}})
}

#[tokio::test]
async fn a_zone_ingress_registers_with_an_ingress_zone_token() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    let token = zone.zone_token(json!({"zone": "default", "scope": ["ingress"]})).await;
    let auth = format!("Bearer {token}");
    let hello = ingress_hello("ingress-1", ingress("ingress-1"));
    let mut session = Session::open_with(&zone, Some(&auth), hello).await.unwrap();
    match session.next().await.unwrap() {
        Kind::ZoneProxyAccepted(accepted) => {
            assert_eq!((accepted.name.as_str(), accepted.zone.as_str()), ("ingress-1", "default"));
        }
        other => panic!("expected ZoneProxyAccepted, got {other:?}"),
    }
    let (status, stored) = zone.get("/zoneingresses/ingress-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["zone"], "default", "the ingress is pinned to the CP's zone: {stored}");
    assert_eq!(stored["networking"]["advertisedPort"], 443);

    // Revoking the token closes the live stream, as for data plane proxies.
    let data = STANDARD.encode(jti(&token));
    zone.put(
        "/global-secrets/zone-token-revocations",
        json!({"type": "GlobalSecret", "name": "zone-token-revocations", "data": data}),
    )
    .await;
    let ended = tokio::time::timeout(Duration::from_secs(2), session.rx.message()).await;
    let err = ended.expect("the stream ends within 2 s").err().unwrap();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("token is revoked"), "{}", err.message());
    zone.stop().await;
}

#[tokio::test]
async fn zone_ingresses_are_refused_without_the_right_zone_token() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path()).await;
    zone.mesh_with_web("default", "1h").await;
    let egress = zone.zone_token(json!({"zone": "default", "scope": ["egress"]})).await;
    let west = zone.zone_token(json!({"zone": "west", "scope": ["ingress"]})).await;
    let dp_token = zone.token(json!({"mesh": "default"})).await;
    let cases = [
        (
            Some(format!("Bearer {egress}")),
            Code::PermissionDenied,
            "token cannot be used to authenticate zone entity (ingress is out of token's scope: \
             [egress])"
                .to_owned(),
        ),
        (
            Some(format!("Bearer {west}")),
            Code::PermissionDenied,
            "zone from requestor: default is different than in token: west".to_owned(),
        ),
        (Some(format!("Bearer {dp_token}")), Code::Unauthenticated, "token".to_owned()),
        (
            None,
            Code::Unauthenticated,
            "request must have exactly 1 \"authorization\" header, got 0".to_owned(),
        ),
    ];
    for (auth, code, message) in cases {
        let hello = ingress_hello("ingress-1", ingress("ingress-1"));
        let err = Session::open_with(&zone, auth.as_deref(), hello).await.err().unwrap();
        assert_eq!(err.code(), code, "{message}: {err:?}");
        assert!(err.message().contains(&message), "{}", err.message());
    }
    let (status, _) = zone.get("/zoneingresses/ingress-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was registered");
    let metrics = zone.metrics().await;
    let claims = "kuma_auth_failures_total{subject=\"zone_proxy\",reason=\"claims\"} 2";
    assert!(metrics.contains(claims), "{metrics}");
    let missing = "kuma_auth_failures_total{subject=\"zone_proxy\",reason=\"missing_token\"} 1";
    assert!(metrics.contains(missing), "{metrics}");

    // A valid token with a resource of the wrong type or another zone changes nothing either.
    let token = zone.zone_token(json!({"zone": "default", "scope": ["ingress"]})).await;
    let auth = format!("Bearer {token}");
    let mut other_zone = ingress("ingress-1");
    other_zone["zone"] = json!("west");
    let bad = [
        (web("default"), "proxy type ingress needs a ZoneIngress, got a Dataplane"),
        (other_zone, "the ZoneIngress says it is in zone \"west\""),
        (json!({"type": "ZoneIngress", "name": "ingress-1"}), "networking: must be defined"),
    ];
    for (resource, message) in bad {
        let hello = ingress_hello("ingress-1", resource);
        let err = Session::open_with(&zone, Some(&auth), hello).await.err().unwrap();
        assert_eq!(err.code(), Code::InvalidArgument, "{message}: {err:?}");
        assert!(err.message().contains(message), "{}", err.message());
    }
    let (status, _) = zone.get("/zoneingresses/ingress-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was registered");
    zone.stop().await;
}
