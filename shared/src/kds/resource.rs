//! The `KumaResource` envelope: a resource's meta (`name`, `mesh`, `version: ""`, `labels`) plus
//! its spec as a deterministic `Any`, and the delta xDS `Resource` that carries it.
//!
//! Decoding checks every type URL against the expected resource type and validates the spec, so a
//! receiver can NACK with the error's text. Creation and modification times are not on the wire.

use kuma_core::resources::{
    MeshTrafficPermissionSpec, Meta, Resource, ResourceType, Scope, Spec, ValidationError,
    check_labels, check_mesh_ref, check_name,
};
use prost::{Message, Name};
use prost_types::Any;
use proto::envoy::service::discovery::v3 as discovery;
use proto::kuma::mesh::v1alpha1 as mesh_pb;
use proto::kuma::mesh::v1alpha1::KumaResource;
use proto::kuma::mesh::v1alpha1::kuma_resource::Meta as PbMeta;
use proto::kuma::system::v1alpha1 as system_pb;

use super::Error;
use super::naming::{content_version, resource_name};

/// The `Any` type URL of a `KumaResource` inside a delta `Resource`.
pub const KUMA_RESOURCE_TYPE_URL: &str = "type.googleapis.com/kuma.mesh.v1alpha1.KumaResource";

/// The `Any` type URL of a resource type's spec, e.g.
/// `type.googleapis.com/kuma.system.v1alpha1.Secret` for both `Secret` and `GlobalSecret`.
pub fn spec_type_url(ty: ResourceType) -> &'static str {
    match ty {
        ResourceType::Mesh => "type.googleapis.com/kuma.mesh.v1alpha1.Mesh",
        ResourceType::Secret | ResourceType::GlobalSecret => {
            "type.googleapis.com/kuma.system.v1alpha1.Secret"
        }
        ResourceType::Zone => "type.googleapis.com/kuma.system.v1alpha1.Zone",
        ResourceType::Dataplane => "type.googleapis.com/kuma.mesh.v1alpha1.Dataplane",
        ResourceType::TrafficPermission => {
            "type.googleapis.com/kuma.mesh.v1alpha1.TrafficPermission"
        }
        ResourceType::ZoneIngress => "type.googleapis.com/kuma.mesh.v1alpha1.ZoneIngress",
        // Kuma sends policies that are not protobuf messages as their JSON with no type URL.
        ResourceType::MeshTrafficPermission => "",
    }
}

/// A spec as a deterministic `Any` (prost writes fields in declaration order and maps in key
/// order, so equal specs give equal bytes).
pub fn spec_to_any(spec: &Spec) -> Any {
    let value = match spec {
        Spec::Mesh(s) => super::mesh::to_pb(s).encode_to_vec(),
        Spec::Secret(s) | Spec::GlobalSecret(s) => super::secret::to_pb(s).encode_to_vec(),
        Spec::Zone(s) => super::zone::to_pb(s).encode_to_vec(),
        Spec::Dataplane(s) => super::dataplane::to_pb(s).encode_to_vec(),
        Spec::TrafficPermission(s) => super::traffic_permission::to_pb(s).encode_to_vec(),
        Spec::ZoneIngress(s) => super::zone_ingress::to_pb(s).encode_to_vec(),
        Spec::MeshTrafficPermission(s) => super::json::policy_to_bytes(&s.spec),
    };
    Any { type_url: spec_type_url(spec.resource_type()).to_owned(), value }
}

/// Decodes a `ty` spec from its `Any`, checking the type URL. It does not validate the spec.
pub fn spec_from_any(ty: ResourceType, any: &Any) -> Result<Spec, Error> {
    check_type_url(spec_type_url(ty), &any.type_url)?;
    let bytes = any.value.as_slice();
    Ok(match ty {
        ResourceType::Mesh => Spec::Mesh(super::mesh::from_pb(message::<mesh_pb::Mesh>(bytes)?)?),
        ResourceType::Secret => {
            Spec::Secret(super::secret::from_pb(message::<system_pb::Secret>(bytes)?))
        }
        ResourceType::GlobalSecret => {
            Spec::GlobalSecret(super::secret::from_pb(message::<system_pb::Secret>(bytes)?))
        }
        ResourceType::Zone => Spec::Zone(super::zone::from_pb(message::<system_pb::Zone>(bytes)?)),
        ResourceType::Dataplane => {
            Spec::Dataplane(super::dataplane::from_pb(message::<mesh_pb::Dataplane>(bytes)?)?)
        }
        ResourceType::TrafficPermission => {
            Spec::TrafficPermission(super::traffic_permission::from_pb(message::<
                mesh_pb::TrafficPermission,
            >(bytes)?))
        }
        ResourceType::ZoneIngress => {
            Spec::ZoneIngress(super::zone_ingress::from_pb(message::<mesh_pb::ZoneIngress>(bytes)?))
        }
        ResourceType::MeshTrafficPermission => {
            Spec::MeshTrafficPermission(MeshTrafficPermissionSpec {
                spec: super::json::policy_from_bytes(bytes)?,
            })
        }
    })
}

/// A resource as a `KumaResource`: `meta.version` is always empty, as Kuma sends it.
pub fn to_kuma_resource(resource: &Resource) -> KumaResource {
    KumaResource {
        meta: Some(PbMeta {
            name: resource.meta.name.clone(),
            mesh: resource.meta.mesh.clone().unwrap_or_default(),
            version: String::new(),
            labels: resource.meta.labels.clone(),
        }),
        spec: Some(spec_to_any(&resource.spec)),
        status: None,
    }
}

/// Reads a `ty` resource from a `KumaResource`: checks the meta against the type's scope, the
/// spec's type URL, and validates the spec.
pub fn from_kuma_resource(ty: ResourceType, kuma: KumaResource) -> Result<Resource, Error> {
    let meta = kuma.meta.ok_or(Error::Missing { ty, field: "meta" })?;
    if meta.name.is_empty() {
        return Err(Error::Missing { ty, field: "meta.name" });
    }
    let mesh = match (ty.scope(), meta.mesh.is_empty()) {
        (Scope::Mesh, false) => Some(meta.mesh),
        (Scope::Global, true) => None,
        _ => {
            return Err(Error::Scope { ty, name: meta.name, mesh: meta.mesh });
        }
    };
    let any = kuma.spec.ok_or(Error::Missing { ty, field: "spec" })?;
    let spec = spec_from_any(ty, &any)?;
    // The meta gets the checks the API applies, so a peer cannot store a name no user could
    // create (or address through the API).
    let mut violations = ValidationError::default();
    check_name(&meta.name, ty == ResourceType::Mesh, &mut violations);
    if let Some(mesh) = &mesh {
        check_mesh_ref(mesh, &mut violations);
    }
    check_labels(&meta.labels, &mut violations);
    violations.extend(spec.validate());
    if !violations.is_empty() {
        return Err(Error::Invalid { ty, name: meta.name, violations });
    }
    Ok(Resource {
        meta: Meta {
            name: meta.name,
            mesh,
            labels: meta.labels,
            creation_time: None,
            modification_time: None,
        },
        spec,
    })
}

/// A resource as the `Any` a delta `Resource.resource` carries.
pub fn encode(resource: &Resource) -> Any {
    Any {
        type_url: KUMA_RESOURCE_TYPE_URL.to_owned(),
        value: to_kuma_resource(resource).encode_to_vec(),
    }
}

/// Reads a `ty` resource from a delta `Resource.resource`; see [`from_kuma_resource`].
pub fn decode(ty: ResourceType, any: &Any) -> Result<Resource, Error> {
    check_type_url(KUMA_RESOURCE_TYPE_URL, &any.type_url)?;
    from_kuma_resource(ty, message(&any.value)?)
}

/// The delta xDS `Resource` for a resource: name `<name>.<mesh>`, the content hash as version.
pub fn delta_resource(resource: &Resource) -> discovery::Resource {
    let any = encode(resource);
    let meta = &resource.meta;
    discovery::Resource {
        version: content_version(&any.value),
        name: resource_name(&meta.name, meta.mesh.as_deref()),
        resource: Some(any),
        ..discovery::Resource::default()
    }
}

fn check_type_url(expected: &str, actual: &str) -> Result<(), Error> {
    if actual == expected {
        return Ok(());
    }
    Err(Error::WrongTypeUrl { expected: expected.to_owned(), actual: actual.to_owned() })
}

fn message<M: Message + Name + Default>(bytes: &[u8]) -> Result<M, Error> {
    M::decode(bytes).map_err(|source| Error::Decode { message: M::full_name(), source })
}

#[cfg(test)]
mod tests;
