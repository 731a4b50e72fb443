//! KDS (Kuma Discovery Service), both halves of the protocol in one place, audited as one
//! contract: the codec (domain ↔ proto conversions for every synced spec, the `KumaResource`
//! envelope, resource names `<name>.<mesh>`, content versions and Kuma's hash suffix; KDS type
//! URLs are [`ResourceType::name`]s), [`delta`] (the publisher and subscriber halves of the delta
//! xDS exchange), [`sync`] (what flows where, labels, ownership, applying), [`snapshots`] (what
//! the global sends zones, encoded once per store generation) and [`status`] (a zone's view of
//! its connection).
//!
//! Nothing here opens a stream or authenticates a peer: the global's KDS server and the zone's
//! KDS client (in `global` and `zone`) drive these pieces over their gRPC streams.

use kuma_core::error::Chain;
use kuma_core::resources::{ResourceType, ValidationError};

mod dataplane;
pub mod delta;
mod json;
mod mesh;
mod naming;
mod resource;
mod secret;
pub mod snapshots;
pub mod status;
pub mod sync;
mod traffic_permission;
mod zone;
mod zone_ingress;

pub use naming::{content_version, hashed_name, resource_name, split_resource_name};
pub use resource::{
    KUMA_RESOURCE_TYPE_URL, decode, delta_resource, encode, from_kuma_resource, spec_from_any,
    spec_to_any, spec_type_url, to_kuma_resource,
};

/// Why a received resource was rejected. The `Display` text (with [`Error::detail`] for the
/// causes) is meant for a NACK's `error_detail.message`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An `Any` holds something other than what the stream carries.
    #[error("type url {actual:?} does not match {expected:?}")]
    WrongTypeUrl {
        /// The type URL the resource type requires.
        expected: String,
        /// The type URL received.
        actual: String,
    },
    /// The bytes are not a valid protobuf message of the expected type.
    #[error("cannot decode {message}")]
    Decode {
        /// The protobuf message being decoded, e.g. `kuma.mesh.v1alpha1.Mesh`.
        message: String,
        /// What prost found wrong.
        #[source]
        source: prost::DecodeError,
    },
    /// `KumaResource.meta` or `.spec` is absent.
    #[error("{ty} resource has no {field}")]
    Missing {
        /// The resource type.
        ty: ResourceType,
        /// `meta`, `meta.name` or `spec`.
        field: &'static str,
    },
    /// A mesh-scoped resource came without a mesh, or a global one with a mesh.
    #[error("{ty} {name:?}: mesh {mesh:?} does not fit the type's scope")]
    Scope {
        /// The resource type.
        ty: ResourceType,
        /// The resource name.
        name: String,
        /// The mesh received (possibly empty).
        mesh: String,
    },
    /// A field holds a value this control plane cannot represent (e.g. a CA type other than
    /// `builtin` or `provided`, or an unknown enum number).
    #[error("{field}: unsupported value {value:?}")]
    Unsupported {
        /// Kuma's field path, e.g. `mtls.backends[0].type`.
        field: String,
        /// The value received.
        value: String,
    },
    /// The spec decoded but fails the type's validation.
    #[error("{ty} {name:?} is not valid: {violations}")]
    Invalid {
        /// The resource type.
        ty: ResourceType,
        /// The resource name.
        name: String,
        /// Every violation, in Kuma's `field: message` form.
        violations: ValidationError,
    },
}

impl Error {
    /// The message followed by its causes, joined with `: `, for a NACK's `error_detail`.
    pub fn detail(&self) -> String {
        Chain(self).to_string()
    }

    fn unsupported(field: impl Into<String>, value: impl ToString) -> Self {
        Self::Unsupported { field: field.into(), value: value.to_string() }
    }
}
