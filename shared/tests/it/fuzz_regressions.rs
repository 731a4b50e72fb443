//! Inputs the fuzz targets in `fuzz/` found to break a property, each replayed against the code
//! the servers run. The raw inputs are also under `fuzz/regressions/<target>/`, which
//! `scripts/fuzz --smoke` replays through the fuzz harnesses.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use kuma_core::resources::{self, ResourceType};
use kuma_core::tokens::{KeyKind, KeySet, SigningKey, Validator, ZoneClaims};
use prost::Message;
use proto::envoy::service::discovery::v3::DeltaDiscoveryResponse;
use shared::kds::delta::{Publisher, Subscriber, node};
use shared::kds::sync::{GLOBAL_TO_ZONE, ZONE_TO_GLOBAL};
use time::macros::datetime;

/// `kds` crash: a `Zone` response (removing `zone-1.`) was accepted by a zone and by the global,
/// though neither subscribes to Zones, and would have been applied to the store.
const UNSUBSCRIBED_ZONE_RESPONSE: &[u8] = b"\x22\x04Zone\x2a\x0210\x32\x07zone-1.";

fn subscriber(kinds: &[ResourceType]) -> Subscriber {
    let mut subscriber = Subscriber::new(node("zone-1"));
    for kind in kinds {
        subscriber.subscribe(*kind);
    }
    subscriber
}

#[test]
fn a_response_of_a_type_never_subscribed_to_is_rejected_by_both_sides() {
    let response = DeltaDiscoveryResponse::decode(UNSUBSCRIBED_ZONE_RESPONSE).unwrap();
    assert_eq!(response.removed_resources, ["zone-1."]);
    for kinds in [&GLOBAL_TO_ZONE[..], &ZONE_TO_GLOBAL[..]] {
        let rejected = subscriber(kinds).receive(response.clone()).unwrap_err();
        assert_eq!(rejected.message, r#"resource type "Zone" was not subscribed to"#);
    }
}

#[test]
fn a_zone_cannot_push_a_global_secret_to_the_global() {
    // What a zone holding a valid token could send on ZoneToGlobalSync to plant its own token
    // signing key on the global.
    let doc = serde_json::json!({
        "type": "GlobalSecret", "name": "user-token-signing-key-9", "data": "aGVsbG8="
    });
    let secret = resources::decode(doc).unwrap();
    let response = Publisher::default().update(ResourceType::GlobalSecret, &[secret]).unwrap();
    let rejected = subscriber(&ZONE_TO_GLOBAL).receive(response).unwrap_err();
    assert_eq!(rejected.message, r#"resource type "GlobalSecret" was not subscribed to"#);
}

/// `token_claims` finding: a correctly signed token whose `exp` is the last second time can
/// represent (9999-12-31T23:59:59Z) made the validator panic adding the 30 s leeway.
const LAST_SECOND_PAYLOAD: &str = r#"{"Zone":"zone-1","Scope":["cp"],"exp":253402300799}"#;

#[test]
fn a_token_expiring_at_the_end_of_representable_time_validates() {
    let key = SigningKey::generate().unwrap();
    let mut keys = KeySet::signing_keys(&KeyKind::Zone);
    keys.insert(1, key.public_key().clone());
    let validator = Validator::new(KeyKind::Zone, keys, HashSet::new());

    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"1","typ":"JWT"}"#);
    let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(LAST_SECOND_PAYLOAD));
    let encoding = EncodingKey::from_rsa_pem(key.to_pem().as_bytes()).unwrap();
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &encoding, Algorithm::RS256).unwrap();
    let token = format!("{message}.{signature}");

    let valid = validator.validate::<ZoneClaims>(&token, datetime!(2026-01-01 00:00 UTC)).unwrap();
    assert_eq!(valid.expires, Some(datetime!(9999-12-31 23:59:59 UTC)));
    let at_the_end = validator.validate::<ZoneClaims>(&token, datetime!(9999-12-31 23:59:59 UTC));
    assert!(at_the_end.is_ok(), "still within the leeway at the very last second");
}

/// `kds` crash: the global sent a GlobalSecret named `zone-token-signing!key-1`; the zone
/// accepted it, though the API refuses that name (and could not address it in a URL).
const INVALID_NAME_RESPONSE: &str = concat!(
    "EvEBCkA0NGY0YjQwZGZiYzY0ZmU0ZDRkfDdkMDJmYmE1NTYxZjg2NDkyNmY4ODRhOTM5OTVjYmNmOTM1YzY2NDQz",
    "NWNmEpEBCjN0eXBlLmdvb2dsZWFwaXMuY29tL2t1bWEubWVzaC52MWFscGhhMS5LdW1hUmVzb3VyY2USWgoaChh6",
    "b25lLXRva2VuLXNpZ25pbmcha2V5LTESPAovdHlwZS5nb29nbGVhcGlzLmNvbS9rdW1hLnN5c3RlbS52MWFscGhh",
    "MS5TZWNyZXQSCQoHCgVoZWxsbxoZem9uZS10b2tlbi1zaWduaW5nLWtleS0xLiIMR2xvYmFsU2VjcmV0KgEz",
);

#[test]
fn a_synced_resource_with_a_name_the_api_refuses_is_rejected() {
    let bytes = base64::engine::general_purpose::STANDARD.decode(INVALID_NAME_RESPONSE).unwrap();
    let response = DeltaDiscoveryResponse::decode(bytes.as_slice()).unwrap();
    let rejected = subscriber(&GLOBAL_TO_ZONE).receive(response).unwrap_err();
    assert!(rejected.message.contains("name: invalid characters"), "{}", rejected.message);
}

/// `kds` finding: a synced resource's labels skipped the API's checks, so a peer could store a
/// label value holding a control character that no user could have applied.
#[test]
fn a_synced_label_the_api_refuses_is_rejected() {
    let decoded = |labels: serde_json::Value| {
        let doc = serde_json::json!({
            "type": "TrafficPermission", "mesh": "default", "name": "allow-all",
            "sources": [{"match": {"kuma.io/service": "*"}}],
            "destinations": [{"match": {"kuma.io/service": "*"}}],
        });
        let mut resource = resources::decode(doc).unwrap();
        let labels: std::collections::BTreeMap<String, String> =
            serde_json::from_value(labels).unwrap();
        resource.meta.labels = labels;
        shared::kds::decode(ResourceType::TrafficPermission, &shared::kds::encode(&resource))
    };
    let err = decoded(serde_json::json!({"kuma.io/workload": "web\u{1}"})).unwrap_err();
    assert!(err.detail().contains("labels[\"kuma.io/workload\"]"), "{}", err.detail());
    // The display-name label KDS itself writes holds a resource name, longer than a label value.
    let long_name = format!("{}.default", "a".repeat(100));
    assert!(decoded(serde_json::json!({"kuma.io/display-name": long_name})).is_ok());
    let err = decoded(serde_json::json!({"kuma.io/display-name": "Not A Name"})).unwrap_err();
    assert!(err.detail().contains("kuma.io/display-name"), "{}", err.detail());
}

/// `resources` finding: a Mesh's JSON sections accepted fields Kuma's messages do not have, and
/// KDS silently dropped them on the way to a zone.
#[test]
fn a_mesh_section_with_an_unknown_field_is_refused_at_apply() {
    let mesh = |metrics: serde_json::Value| {
        resources::decode(
            serde_json::json!({"type": "Mesh", "name": "default", "metrics": metrics}),
        )
    };
    let err = mesh(serde_json::json!({"enabledBackena": "prom"})).unwrap_err();
    assert_eq!(err.to_string(), "metrics.enabledBackena: unknown field");
    let err = mesh(serde_json::json!({"backends": [{"name": 5}]})).unwrap_err();
    assert_eq!(err.to_string(), "metrics.backends[0].name: must be a string");
}

/// An accepted Mesh is stored in the form a zone rebuilds from its KDS message: snake_case
/// names, defaults, float-typed whole numbers and durations all come back identical.
#[test]
fn a_mesh_reads_back_from_kds_exactly_as_stored() {
    let doc = serde_json::json!({
        "type": "Mesh", "name": "default",
        "mtls": {"enabledBackend": "ca-1", "backends": [{
            "name": "ca-1", "type": "builtin",
            "dpCert": {"rotation": {"expiration": "1d"}, "requestTimeout": "1.5s"},
            "rootChain": {"request_timeout": "10s"},
            "conf": {"caCert": {"RSAbits": 2048.0, "expiration": "10y"}},
        }]},
        "metrics": {"enabled_backend": "", "backends": [{"name": "prom", "type": "prometheus",
            "conf": {"port": 5670.0, "skipMTLS": false}}]},
        "tracing": {"backends": [{"name": "z", "sampling": 100.0, "type": "zipkin"}]},
        "networking": {"outbound": {"passthrough": false}},
        "routing": {"zoneEgress": false, "localityAwareLoadBalancing": true},
        "constraints": {"dataplaneProxy": {"requirements": [{"tags": {"kuma.io/zone": "east"}}]}},
    });
    let stored = resources::decode(doc).unwrap();
    let synced = shared::kds::decode(ResourceType::Mesh, &shared::kds::encode(&stored)).unwrap();
    assert_eq!(synced, stored);
    let json = resources::encode(&stored);
    assert_eq!(json["mtls"]["backends"][0]["dpCert"]["requestTimeout"], "1.500s");
    assert_eq!(json["mtls"]["backends"][0]["rootChain"]["requestTimeout"], "10s");
    assert_eq!(
        json["metrics"],
        serde_json::json!({"backends": [{"name": "prom",
        "type": "prometheus", "conf": {"port": 5670, "skipMTLS": false}}]})
    );
    assert_eq!(json["routing"], serde_json::json!({"localityAwareLoadBalancing": true}));
    assert_eq!(json["networking"]["outbound"]["passthrough"], false);
    let err = resources::decode(serde_json::json!({"type": "Mesh", "name": "m",
        "mtls": {"backends": [{"name": "ca", "type": "builtin",
            "dpCert": {"rotation": {"expiration": "1d"}, "requestTimeout": "10m"}}]}}))
    .unwrap_err();
    assert!(err.to_string().contains("mtls.backends[0].dpCert.requestTimeout: must be a duration"));
}

/// `resources` finding: Secret data in the URL-safe alphabet was stored as given but arrived on
/// the zone in the standard one; both sides now store the standard, padded text.
#[test]
fn url_safe_secret_data_is_stored_in_the_standard_alphabet() {
    let doc = serde_json::json!({"type": "Secret", "mesh": "default", "name": "s",
        "data": "aGVsbG8-"});
    let stored = resources::decode(doc).unwrap();
    assert_eq!(resources::encode(&stored)["data"], "aGVsbG8+");
    let synced = shared::kds::decode(ResourceType::Secret, &shared::kds::encode(&stored)).unwrap();
    assert_eq!(synced, stored);
}
