use std::collections::BTreeMap;

use kuma_core::resources::{
    DataplaneSpec, Inbound, MeshSpec, Networking, SecretSpec, Selector, TrafficPermissionSpec,
    ZoneSpec,
};

use super::*;

fn resource(name: &str, mesh: Option<&str>, spec: Spec) -> Resource {
    Resource {
        meta: Meta {
            name: name.into(),
            mesh: mesh.map(str::to_owned),
            labels: BTreeMap::from([
                ("kuma.io/origin".into(), "global".into()),
                ("team".into(), "payments".into()),
            ]),
            creation_time: None,
            modification_time: None,
        },
        spec,
    }
}

fn every_type() -> Vec<Resource> {
    let service = BTreeMap::from([("kuma.io/service".to_owned(), "web".to_owned())]);
    vec![
        resource("default", None, Spec::Mesh(MeshSpec::default())),
        resource("tls", Some("default"), Spec::Secret(SecretSpec::from_bytes(b"pem"))),
        resource("inter-cp-ca", None, Spec::GlobalSecret(SecretSpec::from_bytes(b"key"))),
        resource("east", None, Spec::Zone(ZoneSpec { enabled: false, ..ZoneSpec::default() })),
        resource(
            "web-1",
            Some("default"),
            Spec::Dataplane(DataplaneSpec {
                networking: Some(Networking {
                    address: "10.0.0.1".into(),
                    inbound: vec![Inbound {
                        port: 8080,
                        tags: service.clone(),
                        ..Inbound::default()
                    }],
                    ..Networking::default()
                }),
                ..DataplaneSpec::default()
            }),
        ),
        resource(
            "allow-all",
            Some("default"),
            Spec::TrafficPermission(TrafficPermissionSpec {
                sources: vec![Selector { tags: service.clone() }],
                destinations: vec![Selector { tags: service }],
            }),
        ),
    ]
}

#[test]
fn every_type_round_trips_through_bytes_with_labels() {
    for original in every_type() {
        let ty = original.resource_type();
        let any = encode(&original);
        assert_eq!(any.type_url, KUMA_RESOURCE_TYPE_URL);
        let bytes = any.encode_to_vec();
        let back = decode(ty, &Any::decode(bytes.as_slice()).unwrap()).unwrap();
        assert_eq!(back, original, "{ty}");
    }
}

#[test]
fn kuma_resource_has_empty_version_and_spec_type_urls() {
    let expected = [
        "type.googleapis.com/kuma.mesh.v1alpha1.Mesh",
        "type.googleapis.com/kuma.system.v1alpha1.Secret",
        "type.googleapis.com/kuma.system.v1alpha1.Secret",
        "type.googleapis.com/kuma.system.v1alpha1.Zone",
        "type.googleapis.com/kuma.mesh.v1alpha1.Dataplane",
        "type.googleapis.com/kuma.mesh.v1alpha1.TrafficPermission",
    ];
    for (r, url) in every_type().iter().zip(expected) {
        let kuma = to_kuma_resource(r);
        let meta = kuma.meta.unwrap();
        assert_eq!(meta.version, "");
        assert_eq!(meta.labels["team"], "payments");
        assert_eq!(kuma.spec.unwrap().type_url, url);
    }
    // The hand-written URLs agree with the generated `prost::Name` ones.
    assert_eq!(spec_type_url(ResourceType::Mesh), mesh_pb::Mesh::type_url());
    assert_eq!(
        spec_type_url(ResourceType::TrafficPermission),
        mesh_pb::TrafficPermission::type_url()
    );
    assert_eq!(KUMA_RESOURCE_TYPE_URL, KumaResource::type_url());
}

#[test]
fn delta_resource_is_named_and_versioned_by_content() {
    let resources = every_type();
    let mesh = delta_resource(&resources[0]);
    assert_eq!(mesh.name, "default.");
    let dp = delta_resource(&resources[4]);
    assert_eq!(dp.name, "web-1.default");
    assert_eq!(dp.version.len(), 64);
    assert_eq!(dp.version, delta_resource(&resources[4]).version);
    let mut changed = resources[4].clone();
    changed.meta.labels.insert("x".into(), "y".into());
    assert_ne!(delta_resource(&changed).version, dp.version);
    // Store times are not on the wire, so they do not change the version.
    changed = resources[4].clone();
    changed.meta.modification_time = Some(time::OffsetDateTime::UNIX_EPOCH);
    assert_eq!(delta_resource(&changed).version, dp.version);
}

#[test]
fn wrong_type_url_is_rejected() {
    let mesh = encode(&every_type()[0]);
    let err = decode(ResourceType::Zone, &mesh).unwrap_err();
    assert_eq!(
        err.to_string(),
        "type url \"type.googleapis.com/kuma.mesh.v1alpha1.Mesh\" does not match \
         \"type.googleapis.com/kuma.system.v1alpha1.Zone\""
    );
    let mut outer = mesh.clone();
    outer.type_url = "type.googleapis.com/kuma.mesh.v1alpha1.Mesh".into();
    assert!(matches!(decode(ResourceType::Mesh, &outer), Err(Error::WrongTypeUrl { .. })));
}

#[test]
fn garbage_bytes_are_rejected() {
    let any = Any { type_url: KUMA_RESOURCE_TYPE_URL.into(), value: vec![0xff, 0xff, 0xff] };
    let err = decode(ResourceType::Mesh, &any).unwrap_err();
    assert_eq!(err.to_string(), "cannot decode kuma.mesh.v1alpha1.KumaResource");
    assert!(err.detail().starts_with("cannot decode kuma.mesh.v1alpha1.KumaResource: "));

    let mut kuma = to_kuma_resource(&every_type()[1]);
    kuma.spec.as_mut().unwrap().value = vec![0x0a, 0x05, 0x01];
    let err = from_kuma_resource(ResourceType::Secret, kuma).unwrap_err();
    assert_eq!(err.to_string(), "cannot decode kuma.system.v1alpha1.Secret");
}

#[test]
fn invalid_spec_is_rejected_with_kumas_violations() {
    let mut tp = every_type().remove(5);
    tp.spec = Spec::TrafficPermission(TrafficPermissionSpec::default());
    let err = decode(ResourceType::TrafficPermission, &encode(&tp)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TrafficPermission \"allow-all\" is not valid: sources: must have at least one element; \
         destinations: must have at least one element"
    );

    let secret = resource("empty", Some("default"), Spec::Secret(SecretSpec::default()));
    let err = decode(ResourceType::Secret, &encode(&secret)).unwrap_err();
    assert_eq!(err.detail(), "Secret \"empty\" is not valid: data: cannot be empty");
}

#[test]
fn meta_must_fit_the_scope() {
    let mut dp = every_type().remove(4);
    dp.meta.mesh = None;
    let err = decode(ResourceType::Dataplane, &encode(&dp)).unwrap_err();
    assert_eq!(err.to_string(), "Dataplane \"web-1\": mesh \"\" does not fit the type's scope");

    let mut zone = to_kuma_resource(&every_type()[3]);
    zone.meta.as_mut().unwrap().mesh = "default".into();
    assert!(matches!(from_kuma_resource(ResourceType::Zone, zone), Err(Error::Scope { .. })));

    let mut nameless = to_kuma_resource(&every_type()[0]);
    nameless.meta.as_mut().unwrap().name.clear();
    let err = from_kuma_resource(ResourceType::Mesh, nameless).unwrap_err();
    assert_eq!(err.to_string(), "Mesh resource has no meta.name");
    let err = from_kuma_resource(ResourceType::Mesh, KumaResource::default()).unwrap_err();
    assert_eq!(err.to_string(), "Mesh resource has no meta");
}

#[test]
fn a_mesh_traffic_permission_travels_as_json_without_a_type_url_as_in_kuma() {
    let doc = serde_json::json!({
        "targetRef": {"kind": "MeshService", "name": "backend"},
        "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}],
    });
    let spec = Spec::from_value(
        ResourceType::MeshTrafficPermission,
        serde_json::json!({ "spec": doc.clone() }),
    )
    .unwrap();
    let any = spec_to_any(&spec);
    assert_eq!(any.type_url, "");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&any.value).unwrap(), doc);
    assert_eq!(spec_from_any(ResourceType::MeshTrafficPermission, &any).unwrap(), spec);
}
