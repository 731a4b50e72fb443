//! Kuma resources in their universal (REST and YAML) form: types, specs and validation.
//!
//! This module decides what a valid resource is and how it looks on the wire. It knows nothing of
//! where resources are stored or who may write them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

mod codec;
mod dataplane;
mod duration;
pub mod insight;
mod kind;
mod mesh;
mod mesh_traffic_permission;
pub mod protojson;
mod secret;
pub mod strict;
mod traffic_permission;
mod validation;
mod zone;
mod zone_ingress;

pub use codec::{DocumentError, decode, decode_documents, encode};
pub use dataplane::{
    Admin, DataplaneSpec, Gateway, GatewayType, Health, Inbound, Networking, Outbound,
};
pub use duration::{DurationError, KumaDuration};
pub use kind::{Origin, ResourceType, Scope};
pub use mesh::{CaBackend, CaType, DpCert, MeshSpec, Mode, Mtls, Rotation};
pub use mesh_traffic_permission::{
    Action, Conf, FromItem, MeshTrafficPermission, MeshTrafficPermissionSpec, TargetRef,
    TargetRefKind,
};
pub use secret::SecretSpec;
pub use traffic_permission::{Selector, TrafficPermissionSpec};
pub use validation::{SERVICE_TAG, ValidationError, Violation};
pub use validation::{check_labels, check_mesh_ref, check_name};
pub use zone::{ZoneNameProblem, ZoneSpec, check_zone_name};
pub use zone_ingress::{AvailableService, IngressNetworking, ZoneIngressSpec};

/// The metadata every resource carries beside its spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Resource name.
    pub name: String,
    /// The mesh, for mesh-scoped types; `None` for global-scoped ones.
    pub mesh: Option<String>,
    /// User and system labels (`kuma.io/origin`, `kuma.io/zone`, ...).
    pub labels: BTreeMap<String, String>,
    /// Set by the store on creation.
    pub creation_time: Option<OffsetDateTime>,
    /// Set by the store on every write.
    pub modification_time: Option<OffsetDateTime>,
}

/// A resource: metadata plus a typed spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Name, mesh, labels and times.
    pub meta: Meta,
    /// The type-specific content; its variant gives the type.
    pub spec: Spec,
}

/// The spec of a resource, one variant per type.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// `Mesh`.
    Mesh(MeshSpec),
    /// `Secret` (mesh-scoped).
    Secret(SecretSpec),
    /// `GlobalSecret`.
    GlobalSecret(SecretSpec),
    /// `Zone`.
    Zone(ZoneSpec),
    /// `Dataplane`.
    Dataplane(DataplaneSpec),
    /// `TrafficPermission`.
    TrafficPermission(TrafficPermissionSpec),
    /// `ZoneIngress`.
    ZoneIngress(ZoneIngressSpec),
    /// `MeshTrafficPermission`.
    MeshTrafficPermission(MeshTrafficPermissionSpec),
}

impl Resource {
    /// The resource's type.
    pub fn resource_type(&self) -> ResourceType {
        self.spec.resource_type()
    }
}

impl Spec {
    /// The type this spec belongs to.
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Self::Mesh(_) => ResourceType::Mesh,
            Self::Secret(_) => ResourceType::Secret,
            Self::GlobalSecret(_) => ResourceType::GlobalSecret,
            Self::Zone(_) => ResourceType::Zone,
            Self::Dataplane(_) => ResourceType::Dataplane,
            Self::TrafficPermission(_) => ResourceType::TrafficPermission,
            Self::ZoneIngress(_) => ResourceType::ZoneIngress,
            Self::MeshTrafficPermission(_) => ResourceType::MeshTrafficPermission,
        }
    }

    /// The spec fields alone, as a JSON object in Kuma's universal form.
    pub fn to_value(&self) -> Value {
        match self {
            Self::Mesh(s) => to_value(s),
            Self::Secret(s) | Self::GlobalSecret(s) => to_value(s),
            Self::Zone(s) => to_value(s),
            Self::Dataplane(s) => to_value(s),
            Self::TrafficPermission(s) => to_value(s),
            Self::ZoneIngress(s) => to_value(s),
            Self::MeshTrafficPermission(s) => to_value(s),
        }
    }

    /// Reads and validates the spec fields of a `ty` resource (meta fields must already be
    /// removed). Unknown fields are rejected with their path, as Kuma's strict protojson does.
    pub fn from_value(ty: ResourceType, value: Value) -> Result<Spec, ValidationError> {
        let spec = match ty {
            ResourceType::Mesh => Self::Mesh(parse::<MeshSpec>(value)?.canonical()?),
            ResourceType::Secret => Self::Secret(parse::<SecretSpec>(value)?.canonical()),
            ResourceType::GlobalSecret => {
                Self::GlobalSecret(parse::<SecretSpec>(value)?.canonical())
            }
            ResourceType::Zone => Self::Zone(parse(value)?),
            ResourceType::Dataplane => Self::Dataplane(parse(value)?),
            ResourceType::TrafficPermission => Self::TrafficPermission(parse(value)?),
            ResourceType::ZoneIngress => Self::ZoneIngress(parse(value)?),
            ResourceType::MeshTrafficPermission => Self::MeshTrafficPermission(parse(value)?),
        };
        spec.validate().into_result()?;
        Ok(spec)
    }

    /// The checks only a spec being written must pass (see
    /// `DataplaneSpec::validate_input`): `decode` runs them, reading a stored record does not.
    pub(crate) fn validate_input(&self) -> ValidationError {
        match self {
            Self::Dataplane(s) => s.validate_input(),
            _ => ValidationError::default(),
        }
    }

    /// Runs the type's checks; an empty error means the spec is valid.
    pub fn validate(&self) -> ValidationError {
        match self {
            Self::Mesh(s) => s.validate(),
            Self::Secret(s) | Self::GlobalSecret(s) => s.validate(),
            Self::Zone(_) => ValidationError::default(),
            Self::Dataplane(s) => s.validate(),
            Self::TrafficPermission(s) => s.validate(),
            Self::ZoneIngress(s) => s.validate(),
            Self::MeshTrafficPermission(s) => s.validate(),
        }
    }
}

fn to_value<T: Serialize>(spec: &T) -> Value {
    // Invariant: specs are plain structs whose maps have string keys, which serde_json always
    // serializes.
    serde_json::to_value(spec).expect("spec serializes to JSON")
}

/// Deserializes a spec (never positionally, see [`strict`]), turning the first error into a
/// violation on the offending field's path.
fn parse<T: DeserializeOwned>(value: Value) -> Result<T, ValidationError> {
    strict::parse(value)
}

#[cfg(test)]
mod tests;
