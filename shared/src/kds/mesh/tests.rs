use prost::Message;
use serde_json::{Value, json};

use super::*;

fn object(value: Value) -> Option<Map<String, Value>> {
    Some(value.as_object().unwrap().clone())
}

fn round_trip(spec: &MeshSpec) -> MeshSpec {
    let bytes = to_pb(spec).encode_to_vec();
    from_pb(pb::Mesh::decode(bytes.as_slice()).unwrap()).unwrap()
}

fn full_mesh() -> MeshSpec {
    MeshSpec {
        mtls: Some(Mtls {
            enabled_backend: "ca-1".into(),
            backends: vec![
                CaBackend {
                    name: "ca-1".into(),
                    kind: CaType::Builtin,
                    mode: Mode::Permissive,
                    dp_cert: Some(DpCert {
                        rotation: Some(Rotation { expiration: "1d".into() }),
                        request_timeout: Some("10s".into()),
                    }),
                    conf: object(json!({"caCert": {"RSAbits": 2048, "expiration": "10y"}})),
                    root_chain: object(json!({"requestTimeout": "1.500s"})),
                },
                CaBackend {
                    name: "ca-2".into(),
                    kind: CaType::Provided,
                    mode: Mode::Strict,
                    dp_cert: None,
                    conf: object(json!({"cert": {"secret": "c"}, "key": {"secret": "k"}})),
                    root_chain: None,
                },
            ],
            skip_validation: true,
        }),
        logging: object(json!({
            "defaultBackend": "file",
            "backends": [
                {"name": "file", "type": "file", "conf": {"path": "/tmp/access.log"}},
                {"name": "tcp", "format": "%START_TIME%", "type": "tcp",
                 "conf": {"address": "127.0.0.1:5000"}}
            ]
        })),
        metrics: object(json!({
            "enabledBackend": "prom",
            "backends": [{"name": "prom", "type": "prometheus",
                          "conf": {"port": 5670, "path": "/metrics", "skipMTLS": false}}]
        })),
        tracing: object(json!({
            "defaultBackend": "zipkin",
            "backends": [{"name": "zipkin", "sampling": 80.5, "type": "zipkin",
                          "conf": {"url": "http://zipkin:9411/api/v2/spans"}},
                         {"name": "all", "sampling": 100, "type": "datadog"}]
        })),
        networking: object(json!({"outbound": {"passthrough": false}})),
        routing: object(json!({"localityAwareLoadBalancing": true, "zoneEgress": true})),
        constraints: object(json!({
            "dataplaneProxy": {
                "requirements": [{"tags": {"kuma.io/zone": "east"}}],
                "restrictions": [{"tags": {"env": "dev"}}, {}]
            }
        })),
    }
}

#[test]
fn mesh_with_every_section_round_trips() {
    let spec = full_mesh();
    assert_eq!(round_trip(&spec), spec);
    assert_eq!(round_trip(&MeshSpec::default()), MeshSpec::default());
}

#[test]
fn wire_fields_are_typed() {
    let mesh = to_pb(&full_mesh());
    let mtls = mesh.mtls.unwrap();
    let backend = &mtls.backends[0];
    assert_eq!(backend.r#type, "builtin");
    assert_eq!(backend.mode, ca::Mode::Permissive as i32);
    let dp_cert = backend.dp_cert.as_ref().unwrap();
    assert_eq!(dp_cert.request_timeout.unwrap().seconds, 10);
    let root = backend.root_chain.unwrap().request_timeout.unwrap();
    assert_eq!((root.seconds, root.nanos), (1, 500_000_000));
    assert_eq!(mesh.networking.unwrap().outbound.unwrap().passthrough, Some(false));
    assert_eq!(mesh.tracing.unwrap().backends[0].sampling, Some(80.5));
}

#[test]
fn unknown_json_keys_are_not_sent() {
    let spec = MeshSpec {
        routing: object(json!({"zoneEgress": true, "noSuchField": 1})),
        ..MeshSpec::default()
    };
    assert_eq!(round_trip(&spec).routing, object(json!({"zoneEgress": true})));
}

#[test]
fn snake_case_keys_are_read_and_written_back_in_camel_case() {
    let spec =
        MeshSpec { logging: object(json!({"default_backend": "file"})), ..MeshSpec::default() };
    assert_eq!(round_trip(&spec).logging, object(json!({"defaultBackend": "file"})));
}

#[test]
fn unsupported_ca_type_is_rejected_with_its_path() {
    let mut mesh = to_pb(&full_mesh());
    mesh.mtls.as_mut().unwrap().backends[1].r#type = "vault".into();
    let err = from_pb(mesh).unwrap_err();
    assert_eq!(err.to_string(), r#"mtls.backends[1].type: unsupported value "vault""#);
}
