//! The `resources` target: bytes as a `kumactl apply` YAML stream and as a REST `PUT` JSON body,
//! decoded and validated the way the API does. Every resource accepted must survive its own
//! round trips: universal JSON (what `GET` returns and `kumactl get -o yaml` re-applies) and the
//! KDS envelope (what the other side of a sync receives).

use kuma_core::resources::{self, Resource};
use serde_json::Value;
use shared::kds;

/// `data` as a YAML/JSON document stream and as one JSON body.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(docs) = resources::decode_documents(text) {
        docs.into_iter().for_each(check_document);
    }
    if let Ok(doc) = serde_json::from_slice::<Value>(data) {
        check_document(doc);
    }
}

fn check_document(doc: Value) {
    if let Ok(resource) = resources::decode(doc) {
        check_round_trips(&resource);
    }
}

/// An accepted resource reads back unchanged from its JSON and from its KDS form.
pub fn check_round_trips(resource: &Resource) {
    let json = resources::encode(resource);
    match resources::decode(json.clone()) {
        Ok(back) => assert_eq!(&back, resource, "JSON round trip changed {json}"),
        Err(err) => panic!("the encoding of an accepted resource is rejected: {err}\n{json}"),
    }
    let ty = resource.resource_type();
    match kds::decode(ty, &kds::encode(resource)) {
        Ok(back) => assert_eq!(&back, resource, "KDS round trip changed {json}"),
        Err(err) => {
            panic!("the KDS form of an accepted resource is rejected: {}\n{json}", err.detail())
        }
    }
}

/// A valid document of every type, plus a multi-document stream.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = DOCUMENTS.iter().map(|d| d.as_bytes().to_vec()).collect();
    seeds.push(DOCUMENTS.join("---\n").into_bytes());
    seeds.push(br#"{"type":"Zone","name":"zone-1","enabled":false,"creationTime":"x"}"#.to_vec());
    seeds
}

/// One accepted document per resource type, as users write them.
pub const DOCUMENTS: [&str; 7] = [
    r#"type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
    - name: ca-1
      type: builtin
      mode: PERMISSIVE
      dpCert:
        rotation:
          expiration: 1d
      conf:
        caCert:
          RSAbits: 2048
          expiration: 10y
    - name: ca-2
      type: provided
      conf:
        cert:
          secret: ca-cert
        key:
          inline: a2V5
logging:
  backends:
    - name: file
      type: file
      conf:
        path: /tmp/log
metrics:
  enabledBackend: prom
  backends:
    - name: prom
      type: prometheus
networking:
  outbound:
    passthrough: false
routing:
  zoneEgress: true
constraints:
  dataplaneProxy:
    requirements:
      - tags:
          kuma.io/zone: east
"#,
    r#"type: Dataplane
mesh: default
name: web-1
labels:
  kuma.io/workload: web
networking:
  address: 10.0.0.1
  advertisedAddress: 192.168.0.1
  inbound:
    - port: 8080
      servicePort: 80
      serviceAddress: 127.0.0.1
      tags:
        kuma.io/service: web
        kuma.io/protocol: http
        version: v1
  outbound:
    - port: 10001
      tags:
        kuma.io/service: backend
  admin:
    port: 9901
"#,
    r#"type: Dataplane
mesh: default
name: gateway-1
networking:
  address: 10.0.0.2
  gateway:
    type: BUILTIN
    tags:
      kuma.io/service: edge
"#,
    r#"{"type": "Secret", "mesh": "default", "name": "ca-cert", "data": "aGVsbG8="}"#,
    r#"{"type": "GlobalSecret", "name": "zone-token-signing-key-1", "data": "aGVsbG8="}"#,
    r#"{"type": "Zone", "name": "zone-1", "enabled": true, "labels": {"team": "a"}}"#,
    r#"type: TrafficPermission
mesh: default
name: allow-all
sources:
  - match:
      kuma.io/service: '*'
destinations:
  - match:
      kuma.io/service: '*'
"#,
];
