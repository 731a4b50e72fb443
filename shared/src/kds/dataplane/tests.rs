use std::collections::BTreeMap;

use prost::Message;
use serde_json::json;

use super::*;

fn object(value: Value) -> Option<Map<String, Value>> {
    Some(value.as_object().unwrap().clone())
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn round_trip(spec: &DataplaneSpec) -> DataplaneSpec {
    let bytes = to_pb(spec).encode_to_vec();
    from_pb(pb::Dataplane::decode(bytes.as_slice()).unwrap()).unwrap()
}

fn sidecar() -> DataplaneSpec {
    DataplaneSpec {
        networking: Some(Networking {
            address: "10.0.0.1".into(),
            advertised_address: Some("203.0.113.7".into()),
            advertised_port: None,
            inbound: vec![
                Inbound {
                    port: 8080,
                    service_port: Some(18080),
                    service_address: Some("127.0.0.2".into()),
                    address: Some("10.0.0.2".into()),
                    tags: tags(&[("kuma.io/service", "backend"), ("version", "2")]),
                    health: Some(Health { ready: false }),
                    name: Some("http".into()),
                    service_probe: object(json!({
                        "interval": "10s", "timeout": "2.500s",
                        "unhealthyThreshold": 3, "healthyThreshold": 1, "tcp": {}
                    })),
                    state: Some("NotReady".into()),
                },
                Inbound {
                    port: 9090,
                    tags: tags(&[("kuma.io/service", "metrics")]),
                    ..Inbound::default()
                },
            ],
            outbound: vec![
                Outbound {
                    port: 10001,
                    address: Some("127.0.0.1".into()),
                    tags: tags(&[("kuma.io/service", "db")]),
                    backend_ref: None,
                },
                Outbound {
                    port: 10002,
                    address: None,
                    tags: BTreeMap::new(),
                    backend_ref: object(json!({
                        "kind": "MeshService", "name": "redis", "port": 6379,
                        "labels": {"team": "a"}
                    })),
                },
            ],
            gateway: None,
            admin: Some(Admin { port: 9901 }),
            transparent_proxying: object(json!({
                "redirectPortInbound": 15006,
                "redirectPortOutbound": 15001,
                "directAccessServices": ["*"],
                "reachableServices": ["db", "redis"],
                "ipFamilyMode": "IPv4",
                "reachableBackends": {"refs": [
                    {"kind": "MeshService", "name": "redis", "namespace": "ns", "port": 0,
                     "labels": {"a": "b"}}
                ]}
            })),
        }),
        metrics: object(json!({"name": "prom", "type": "prometheus", "conf": {"port": 1234}})),
        probes: object(json!({
            "port": 9000,
            "endpoints": [{"inboundPort": 8080, "inboundPath": "/health", "path": "/8080/health"}]
        })),
    }
}

#[test]
fn sidecar_with_every_field_round_trips() {
    let spec = sidecar();
    assert_eq!(round_trip(&spec), spec);
}

#[test]
fn gateway_round_trips() {
    for kind in [GatewayType::Delegated, GatewayType::Builtin] {
        let spec = DataplaneSpec {
            networking: Some(Networking {
                address: "gw.example".into(),
                gateway: Some(Gateway { tags: tags(&[("kuma.io/service", "edge")]), kind }),
                ..Networking::default()
            }),
            ..DataplaneSpec::default()
        };
        assert_eq!(round_trip(&spec), spec);
    }
}

#[test]
fn wire_fields_are_typed_and_advertised_port_is_not_carried() {
    let mut spec = sidecar();
    spec.networking.as_mut().unwrap().advertised_port = Some(443);
    let dp = to_pb(&spec);
    let net = dp.networking.as_ref().unwrap();
    let probe = net.inbound[0].service_probe.as_ref().unwrap();
    assert_eq!(probe.timeout.unwrap().nanos, 500_000_000);
    assert_eq!(probe.unhealthy_threshold, Some(3));
    assert_eq!(net.inbound[0].state, inbound::State::NotReady as i32);
    let tp = net.transparent_proxying.as_ref().unwrap();
    assert_eq!(tp.ip_family_mode, tp::IpFamilyMode::IPv4 as i32);
    assert_eq!(tp.reachable_backends.as_ref().unwrap().refs[0].port, Some(0));
    let back = from_pb(dp).unwrap();
    assert_eq!(back.networking.unwrap().advertised_port, None);
}

#[test]
fn unknown_inbound_state_is_rejected_with_its_path() {
    let mut dp = to_pb(&sidecar());
    dp.networking.as_mut().unwrap().inbound[1].state = 7;
    let err = from_pb(dp).unwrap_err();
    assert_eq!(err.to_string(), r#"networking.inbound[1].state: unsupported value "7""#);
}
