//! The resource types the control plane knows, with the facts that routing and sync need.

use std::fmt;

/// Whether a resource lives inside a mesh or beside the meshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Beside the meshes: `/meshes`, `/zones`, `/global-secrets`.
    Global,
    /// Inside a mesh: `/meshes/{mesh}/{plural}`.
    Mesh,
}

/// Which control plane owns a type in a multizone deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written on the global, synced down to zones.
    Global,
    /// Written on a zone, synced up to the global.
    Zone,
}

/// A resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    /// `Mesh`.
    Mesh,
    /// `Secret` (mesh-scoped).
    Secret,
    /// `GlobalSecret`.
    GlobalSecret,
    /// `Zone`.
    Zone,
    /// `Dataplane`.
    Dataplane,
    /// `TrafficPermission`.
    TrafficPermission,
    /// `ZoneIngress`.
    ZoneIngress,
    /// `MeshTrafficPermission`.
    MeshTrafficPermission,
}

impl ResourceType {
    /// Every type, in the order `GET /_resources` and kumactl list them.
    pub const ALL: [ResourceType; 8] = [
        Self::Mesh,
        Self::Secret,
        Self::GlobalSecret,
        Self::Zone,
        Self::Dataplane,
        Self::TrafficPermission,
        Self::ZoneIngress,
        Self::MeshTrafficPermission,
    ];

    /// The `type` field of the resource, e.g. `TrafficPermission`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Mesh => "Mesh",
            Self::Secret => "Secret",
            Self::GlobalSecret => "GlobalSecret",
            Self::Zone => "Zone",
            Self::Dataplane => "Dataplane",
            Self::TrafficPermission => "TrafficPermission",
            Self::ZoneIngress => "ZoneIngress",
            Self::MeshTrafficPermission => "MeshTrafficPermission",
        }
    }

    /// Looks a type up by its `type` field.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The REST path segment, e.g. `traffic-permissions`.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Mesh => "meshes",
            Self::Secret => "secrets",
            Self::GlobalSecret => "global-secrets",
            Self::Zone => "zones",
            Self::Dataplane => "dataplanes",
            Self::TrafficPermission => "traffic-permissions",
            Self::ZoneIngress => "zoneingresses",
            Self::MeshTrafficPermission => "meshtrafficpermissions",
        }
    }

    /// Looks a type up by its REST path segment (`globalsecrets` is Kuma's alias).
    pub fn from_plural(plural: &str) -> Option<Self> {
        if plural == "globalsecrets" {
            return Some(Self::GlobalSecret);
        }
        Self::ALL.into_iter().find(|t| t.plural() == plural)
    }

    /// The kumactl singular, e.g. `traffic-permission`.
    pub fn singular(self) -> &'static str {
        match self {
            Self::Mesh => "mesh",
            Self::Secret => "secret",
            Self::GlobalSecret => "global-secret",
            Self::Zone => "zone",
            Self::Dataplane => "dataplane",
            Self::TrafficPermission => "traffic-permission",
            Self::ZoneIngress => "zone-ingress",
            Self::MeshTrafficPermission => "meshtrafficpermission",
        }
    }

    /// Whether the type sits in a mesh.
    pub fn scope(self) -> Scope {
        match self {
            Self::Mesh | Self::GlobalSecret | Self::Zone | Self::ZoneIngress => Scope::Global,
            Self::Secret
            | Self::Dataplane
            | Self::TrafficPermission
            | Self::MeshTrafficPermission => Scope::Mesh,
        }
    }

    /// Which control plane may write it in a multizone deployment.
    pub fn origin(self) -> Origin {
        match self {
            Self::Dataplane | Self::ZoneIngress => Origin::Zone,
            _ => Origin::Global,
        }
    }

    /// Only admins may read or write it (Kuma's `AdminOnly`).
    pub fn admin_only(self) -> bool {
        matches!(self, Self::Secret | Self::GlobalSecret)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
