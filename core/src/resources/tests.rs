use serde_json::json;
use time::macros::datetime;

use super::*;

/// Decodes `doc`, encodes the result and checks nothing changed.
fn round_trip(doc: Value) -> Resource {
    let resource = decode(doc.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(encode(&resource), doc);
    resource
}

/// The violations of an invalid document, as `field: message` strings.
fn violations(doc: Value) -> Vec<String> {
    let err = decode(doc).expect_err("document should be rejected");
    err.violations.iter().map(ToString::to_string).collect()
}

fn builtin_mesh() -> Value {
    json!({
        "type": "Mesh",
        "name": "default",
        "mtls": {
            "enabledBackend": "ca-1",
            "backends": [{
                "name": "ca-1",
                "type": "builtin",
                "mode": "STRICT",
                "dpCert": {"rotation": {"expiration": "1d"}},
                "conf": {"caCert": {"RSAbits": 2048, "expiration": "10y"}}
            }]
        }
    })
}

fn dataplane() -> Value {
    json!({
        "type": "Dataplane",
        "mesh": "default",
        "name": "web-1",
        "networking": {
            "address": "10.0.0.1",
            "inbound": [{
                "port": 8080,
                "servicePort": 80,
                "tags": {"kuma.io/service": "web", "version": "v1"}
            }],
            "outbound": [{"port": 10001, "tags": {"kuma.io/service": "backend"}}],
            "admin": {"port": 9901}
        }
    })
}

#[test]
fn mesh_round_trips_and_exposes_its_backend() {
    let r = round_trip(builtin_mesh());
    let Spec::Mesh(spec) = &r.spec else { panic!("not a mesh") };
    let backend = spec.enabled_backend().unwrap();
    assert_eq!(backend.kind, CaType::Builtin);
    let expiration = backend.dp_cert.as_ref().and_then(DpCert::expiration).unwrap();
    assert_eq!(expiration.as_std(), std::time::Duration::from_secs(86_400));
    assert_eq!(r.meta.mesh, None);
}

#[test]
fn real_kuma_mesh_sections_are_kept_as_they_are() {
    round_trip(json!({
        "type": "Mesh",
        "name": "demo",
        "logging": {"backends": [{"name": "file", "type": "file", "conf": {"path": "/tmp/log"}}]},
        "metrics": {"enabledBackend": "prom", "backends": [{"name": "prom", "type": "prometheus"}]},
        "tracing": {"defaultBackend": "z"},
        "networking": {"outbound": {"passthrough": false}},
        "routing": {"zoneEgress": true},
        "constraints": {"dataplaneProxy": {"requirements": [{"tags": {"kuma.io/zone": "east"}}]}}
    }));
}

#[test]
fn mesh_mode_defaults_to_strict_and_several_backends_are_allowed() {
    let r = decode(json!({
        "type": "Mesh",
        "name": "m",
        "mtls": {"backends": [
            {"name": "ca-1", "type": "builtin"},
            {"name": "ca-2", "type": "provided", "mode": "PERMISSIVE", "conf": {}}
        ]}
    }))
    .unwrap();
    let out = encode(&r);
    assert_eq!(out["mtls"]["backends"][0]["mode"], "STRICT");
    assert_eq!(out["mtls"]["backends"][1]["mode"], "PERMISSIVE");
    assert!(out["mtls"].get("enabledBackend").is_none());
}

#[test]
fn mesh_backend_rules_use_kuma_messages() {
    let doc = json!({
        "type": "Mesh",
        "name": "m",
        "mtls": {
            "enabledBackend": "missing",
            "backends": [
                {"name": "ca-1", "type": "builtin", "dpCert": {"rotation": {"expiration": "1x"}}},
                {"name": "ca-1", "type": "builtin"},
                {"name": "CA_2", "type": "provided"}
            ]
        }
    });
    assert_eq!(
        violations(doc),
        [
            r#"mtls.backends[1].name: "ca-1" name is already used for another backend"#,
            r#"mtls.backends[2].name: "CA_2" name must be valid dns name"#,
            "mtls.enabledBackend: has to be set to one of the backends in the mesh",
            "mtls.backends[0].dpCert.rotation.expiration: has to be a valid format",
        ]
    );
}

#[test]
fn unknown_backend_type_is_rejected_at_its_path() {
    let mut doc = builtin_mesh();
    doc["mtls"]["backends"][0]["type"] = json!("vault");
    let v = violations(doc);
    assert_eq!(v.len(), 1);
    assert!(v[0].starts_with("mtls.backends[0].type: unknown variant `vault`"), "{v:?}");
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    let mut doc = builtin_mesh();
    doc["mtls"]["backends"][0]["dpCert"]["rotation"]["expiry"] = json!("1d");
    let v = violations(doc);
    assert!(
        v[0].starts_with("mtls.backends[0].dpCert.rotation.expiry: unknown field `expiry`"),
        "{v:?}"
    );

    let mut doc = dataplane();
    doc["networking"]["inbound"][0]["bogus"] = json!(1);
    let v = violations(doc);
    assert!(v[0].starts_with("networking.inbound[0].bogus: unknown field `bogus`"), "{v:?}");

    let v = violations(json!({"type": "Zone", "name": "z", "enable": true}));
    assert!(v[0].starts_with("enable: unknown field `enable`"), "{v:?}");
}

#[test]
fn wrong_value_types_name_the_field() {
    let mut doc = dataplane();
    doc["networking"]["inbound"][0]["tags"]["version"] = json!(1);
    let v = violations(doc);
    assert!(
        v[0].starts_with(r#"networking.inbound[0].tags.version: invalid type: integer `1`"#),
        "{v:?}"
    );
    let mut doc = dataplane();
    doc["networking"]["inbound"][0]["tags"] = json!({"kuma.io/service": 1});
    let v = violations(doc);
    assert!(
        v[0].starts_with(r#"networking.inbound[0].tags["kuma.io/service"]: invalid type"#),
        "{v:?}"
    );
}

#[test]
fn mesh_names_are_capped_at_63_characters() {
    let name = "m".repeat(64);
    assert_eq!(
        violations(json!({"type": "Mesh", "name": name})),
        ["name: cannot be longer than 63 characters"]
    );
    let r = decode(json!({"type": "Zone", "name": name})).unwrap();
    assert_eq!(r.meta.name.len(), 64);
}

#[test]
fn bad_names_are_rejected_on_name() {
    for name in ["", "Web", "web_1", "-web", "web-"] {
        let v = violations(json!({"type": "Zone", "name": name}));
        assert_eq!(v.len(), 1, "{name:?}: {v:?}");
        assert!(v[0].starts_with("name: "), "{v:?}");
    }
    assert_eq!(violations(json!({"type": "Zone"})), ["name: cannot be empty"]);
}

#[test]
fn secrets_round_trip_and_need_data() {
    let r =
        round_trip(json!({"type": "Secret", "mesh": "default", "name": "s", "data": "aGVsbG8="}));
    assert_eq!(r.meta.mesh.as_deref(), Some("default"));
    let Spec::Secret(spec) = &r.spec else { panic!("not a secret") };
    assert_eq!(spec.bytes().unwrap(), b"hello");
    round_trip(json!({"type": "GlobalSecret", "name": "g", "data": "aGVsbG8="}));
    assert_eq!(
        violations(json!({"type": "GlobalSecret", "name": "g", "data": ""})),
        ["data: cannot be empty"]
    );
    assert_eq!(violations(json!({"type": "GlobalSecret", "name": "g"})), ["data: cannot be empty"]);
    assert_eq!(
        violations(json!({"type": "Secret", "mesh": "default", "name": "s", "data": "%%%"})),
        ["data: has to be a valid base64 string"]
    );
}

#[test]
fn zones_are_enabled_unless_disabled() {
    round_trip(json!({"type": "Zone", "name": "zone-1", "enabled": false}));
    let r = decode(json!({"type": "Zone", "name": "zone-1"})).unwrap();
    assert_eq!(r.spec, Spec::Zone(ZoneSpec::default()));
    assert_eq!(encode(&r), json!({"type": "Zone", "name": "zone-1", "enabled": true}));
}

#[test]
fn mesh_is_required_for_mesh_scoped_and_forbidden_for_global_scoped() {
    let mut doc = dataplane();
    doc.as_object_mut().unwrap().remove("mesh");
    assert_eq!(violations(doc), ["mesh: cannot be empty"]);
    assert_eq!(
        violations(json!({"type": "Zone", "name": "z", "mesh": "default"})),
        ["mesh: must not be set"]
    );
}

#[test]
fn unknown_or_missing_type_is_an_error_on_type() {
    assert_eq!(
        violations(json!({"type": "MeshTimeout", "name": "x"})),
        [r#"type: unknown resource type "MeshTimeout""#]
    );
    assert_eq!(violations(json!({"name": "x"})), ["type: cannot be empty"]);
    assert_eq!(violations(json!("Mesh")), ["resource has to be an object"]);
}

#[test]
fn dataplane_round_trips_with_optional_parts() {
    round_trip(dataplane());
    round_trip(json!({
        "type": "Dataplane",
        "mesh": "default",
        "name": "gw",
        "networking": {
            "address": "gateway.example.com",
            "advertisedAddress": "203.0.113.1",
            "advertisedPort": 443,
            "gateway": {"tags": {"kuma.io/service": "edge"}, "type": "BUILTIN"},
            "transparentProxying": {"redirectPortInbound": 15006, "redirectPortOutbound": 15001}
        },
        "metrics": {"type": "prometheus", "conf": {"port": 5670}}
    }));
}

#[test]
fn dataplane_address_rules() {
    let check = |address: &str| {
        let mut doc = dataplane();
        doc["networking"]["address"] = json!(address);
        decode(doc).err().map(|e| e.to_string())
    };
    assert_eq!(check("").as_deref(), Some("networking.address: address can't be empty"));
    assert_eq!(check("0.0.0.0").as_deref(), Some("networking.address: must not be 0.0.0.0 or ::"));
    assert_eq!(
        check("not an address").as_deref(),
        Some("networking.address: address has to be valid IP address or domain name")
    );
    assert_eq!(check("fd00::1"), None);
    assert_eq!(check("web.svc.cluster.local"), None);
    assert_eq!(check("web-1.example.com.").as_deref(), None);
    // Mistyped IP addresses are not host names (Kuma accepts them as such).
    for address in ["10.0.0.300", "999.1.1.1", "1234", "10.0.0"] {
        assert_eq!(
            check(address).as_deref(),
            Some("networking.address: address has to be valid IP address or domain name"),
            "{address}"
        );
    }
    assert_eq!(check("10.0.0.web").as_deref(), None);
}

#[test]
fn records_stored_before_the_input_rules_still_read() {
    let inbound = json!({"port": 8080, "tags": {"kuma.io/service": "web"}});
    let spec = json!({"networking": {"address": "10.0.0.300", "inbound": [inbound, inbound]}});
    assert!(Spec::from_value(ResourceType::Dataplane, spec).is_ok());
}

#[test]
fn two_inbounds_cannot_listen_on_the_same_address_and_port() {
    let mut doc = dataplane();
    doc["networking"]["inbound"] = json!([
        {"port": 8080, "tags": {"kuma.io/service": "web"}},
        {"port": 8081, "tags": {"kuma.io/service": "web"}},
        {"port": 8080, "servicePort": 81, "tags": {"kuma.io/service": "api"}},
        {"port": 8080, "address": "10.0.0.2", "tags": {"kuma.io/service": "api"}}
    ]);
    assert_eq!(
        violations(doc),
        ["networking.inbound[2].port: 10.0.0.1:8080 is already used by networking.inbound[0]"]
    );
}

#[test]
fn dataplane_inbound_and_outbound_rules() {
    let doc = json!({
        "type": "Dataplane",
        "mesh": "default",
        "name": "dp",
        "networking": {
            "address": "10.0.0.1",
            "inbound": [{
                "port": 70000,
                "serviceAddress": "nope",
                "tags": {"version": "", "bad key!": "v", "team": "a b"}
            }],
            "outbound": [{"port": 0, "address": "x", "tags": {}}]
        }
    });
    assert_eq!(
        violations(doc),
        [
            "networking.inbound[0].port: port must be in the range [1, 65535]",
            "networking.inbound[0].serviceAddress: serviceAddress has to be valid IP address",
            r#"networking.inbound[0].tags["bad key!"]: tag name must consist of alphanumeric characters, dots, dashes, slashes and underscores"#,
            r#"networking.inbound[0].tags["team"]: tag value must consist of alphanumeric characters, dots, dashes and underscores"#,
            r#"networking.inbound[0].tags["version"]: tag value must be non-empty"#,
            r#"networking.inbound[0].tags["kuma.io/service"]: tag has to exist"#,
            "networking.outbound[0].port: port must be in the range [1, 65535]",
            "networking.outbound[0].address: address has to be valid IP address",
            r#"networking.outbound[0].tags: mandatory tag "kuma.io/service" is missing"#,
        ]
    );
}

#[test]
fn dataplane_needs_inbound_or_gateway_but_not_both() {
    assert_eq!(
        violations(
            json!({"type": "Dataplane", "mesh": "m", "name": "d", "networking": {"address": "10.0.0.1"}})
        ),
        ["networking: has to contain at least one inbound interface or gateway"]
    );
    assert_eq!(
        violations(json!({"type": "Dataplane", "mesh": "m", "name": "d"})),
        ["networking: must be defined"]
    );
    let mut doc = dataplane();
    doc["networking"]["gateway"] = json!({"tags": {"kuma.io/protocol": "http"}});
    assert_eq!(
        violations(doc),
        [
            "networking.inbound: inbound cannot be defined for delegated gateways",
            r#"networking.gateway.tags["kuma.io/protocol"]: other values than tcp are not allowed, provided value "http""#,
            r#"networking.gateway.tags: mandatory tag "kuma.io/service" is missing"#,
        ]
    );
}

#[test]
fn traffic_permission_round_trips_and_checks_selectors() {
    round_trip(json!({
        "type": "TrafficPermission",
        "mesh": "default",
        "name": "allow-all",
        "sources": [{"match": {"kuma.io/service": "*"}}],
        "destinations": [{"match": {"kuma.io/service": "*"}}]
    }));
    assert_eq!(
        violations(json!({
            "type": "TrafficPermission",
            "mesh": "default",
            "name": "tp",
            "sources": [{"match": {}}, {"match": {"kuma.io/service": ""}}],
        })),
        [
            "sources[0].match: must have at least one tag",
            r#"sources[1].match["kuma.io/service"]: tag value must be non-empty"#,
            "destinations: must have at least one element",
        ]
    );
}

#[test]
fn meta_times_are_written_as_go_writes_them_and_ignored_on_input() {
    let mut r = decode(json!({
        "type": "Zone",
        "name": "z",
        "creationTime": "2020-01-01T00:00:00Z",
        "modificationTime": "garbage",
        "kri": "kri_z____z_"
    }))
    .unwrap();
    assert_eq!(r.meta.creation_time, None);
    r.meta.creation_time = Some(datetime!(2026-11-23 06:00:00 UTC));
    r.meta.modification_time = Some(datetime!(2026-11-23 08:00:00.120 +02:00));
    r.meta.labels.insert("kuma.io/origin".into(), "global".into());
    let out = encode(&r);
    assert_eq!(
        serde_json::to_string(&out).unwrap(),
        r#"{"type":"Zone","name":"z","creationTime":"2026-11-23T06:00:00Z","modificationTime":"2026-11-23T06:00:00.12Z","labels":{"kuma.io/origin":"global"},"enabled":true}"#
    );
}

#[test]
fn labels_are_checked() {
    let v = violations(
        json!({"type": "Zone", "name": "z", "labels": {"ok": "fine", "bad": "no spaces", "n": 1}}),
    );
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v[0].starts_with(r#"labels["n"]: must be a string"#), "{v:?}");
    assert!(v[1].starts_with(r#"labels["bad"]: a valid label must be"#), "{v:?}");
}

#[test]
fn spec_from_value_reads_store_records() {
    let spec = Spec::from_value(ResourceType::Zone, json!({"enabled": false})).unwrap();
    assert_eq!(spec.resource_type(), ResourceType::Zone);
    assert_eq!(spec.to_value(), json!({"enabled": false}));
    let err = Spec::from_value(ResourceType::Secret, json!({})).unwrap_err();
    assert_eq!(err.to_string(), "data: cannot be empty");
}

#[test]
fn yaml_streams_split_into_documents() {
    let text = "type: Mesh\nname: default\n---\n\n---\ntype: Zone\nname: z\nenabled: false\n";
    let docs = decode_documents(text).unwrap();
    assert_eq!(
        docs,
        [
            json!({"type": "Mesh", "name": "default"}),
            json!({"type": "Zone", "name": "z", "enabled": false})
        ]
    );
    let json_doc = decode_documents(r#"{"type": "Zone", "name": "z"}"#).unwrap();
    assert_eq!(json_doc, [json!({"type": "Zone", "name": "z"})]);
    assert!(decode_documents("").unwrap().is_empty());
}

#[test]
fn a_broken_yaml_document_is_named_by_index_and_line() {
    let text = "type: Mesh\nname: default\n---\ntype: Zone\nname: [z\n";
    let err = decode_documents(text).unwrap_err();
    assert_eq!(err.index, 2);
    assert_eq!(err.line, Some(6));
    assert_eq!(err.to_string(), "document 2: invalid YAML or JSON at line 6");
}

#[test]
fn kumactl_apply_yaml_decodes_end_to_end() {
    let text = r#"
type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
    - name: ca-1
      type: provided
      dpCert:
        rotation:
          expiration: 1d
      conf:
        cert:
          secret: ca-cert
        key:
          secret: ca-key
---
type: Dataplane
mesh: default
name: redis-1
networking:
  address: 192.168.0.1
  inbound:
    - port: 9000
      servicePort: 6379
      tags:
        kuma.io/service: redis
        kuma.io/protocol: tcp
  transparentProxying:
    redirectPortInbound: 15006
    redirectPortOutbound: 15001
"#;
    let resources: Vec<Resource> =
        decode_documents(text).unwrap().into_iter().map(|d| decode(d).unwrap()).collect();
    let types: Vec<ResourceType> = resources.iter().map(Resource::resource_type).collect();
    assert_eq!(types, [ResourceType::Mesh, ResourceType::Dataplane]);
    let Spec::Dataplane(dp) = &resources[1].spec else { panic!("not a dataplane") };
    let inbound = &dp.networking.as_ref().unwrap().inbound[0];
    assert_eq!((inbound.port, inbound.service_port), (9000, Some(6379)));
}

#[test]
fn meta_and_spec_violations_are_reported_together() {
    assert_eq!(
        violations(json!({"type": "Secret", "mesh": "Bad Mesh", "name": "s", "data": ""})),
        [
            "mesh: invalid characters. Valid characters are numbers, lowercase latin letters and \
             '-', '_', '.' symbols.",
            "data: cannot be empty",
        ]
    );
}

mod positional;
