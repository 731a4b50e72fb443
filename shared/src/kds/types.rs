//! KDS type names: the `type_url` of delta xDS requests and responses is Kuma's resource type name
//! (`Mesh`, `DataplaneInsight`), not a googleapis URL.

use std::fmt;

use kuma_core::resources::ResourceType;

/// A resource type as KDS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// `Mesh`.
    Mesh,
    /// `Secret`.
    Secret,
    /// `GlobalSecret`.
    GlobalSecret,
    /// `Zone`.
    Zone,
    /// `Dataplane`.
    Dataplane,
    /// `TrafficPermission`.
    TrafficPermission,
    /// `DataplaneInsight`.
    DataplaneInsight,
    /// `ZoneIngress`.
    ZoneIngress,
    /// `MeshTrafficPermission`.
    MeshTrafficPermission,
}

impl Type {
    /// Every KDS type this control plane knows.
    pub const ALL: [Type; 9] = [
        Self::Mesh,
        Self::Secret,
        Self::GlobalSecret,
        Self::Zone,
        Self::Dataplane,
        Self::TrafficPermission,
        Self::DataplaneInsight,
        Self::ZoneIngress,
        Self::MeshTrafficPermission,
    ];

    /// The delta xDS `type_url`, e.g. `TrafficPermission`.
    pub fn type_url(self) -> &'static str {
        match self {
            Self::Mesh => "Mesh",
            Self::Secret => "Secret",
            Self::GlobalSecret => "GlobalSecret",
            Self::Zone => "Zone",
            Self::Dataplane => "Dataplane",
            Self::TrafficPermission => "TrafficPermission",
            Self::DataplaneInsight => "DataplaneInsight",
            Self::ZoneIngress => "ZoneIngress",
            Self::MeshTrafficPermission => "MeshTrafficPermission",
        }
    }

    /// Looks a type up by its delta xDS `type_url`.
    pub fn from_type_url(type_url: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.type_url() == type_url)
    }

    /// The REST resource type, for the types `kuma_core::resources` models.
    pub fn resource_type(self) -> Option<ResourceType> {
        ResourceType::from_name(self.type_url())
    }
}

impl From<ResourceType> for Type {
    fn from(ty: ResourceType) -> Self {
        match ty {
            ResourceType::Mesh => Self::Mesh,
            ResourceType::Secret => Self::Secret,
            ResourceType::GlobalSecret => Self::GlobalSecret,
            ResourceType::Zone => Self::Zone,
            ResourceType::Dataplane => Self::Dataplane,
            ResourceType::TrafficPermission => Self::TrafficPermission,
            ResourceType::ZoneIngress => Self::ZoneIngress,
            ResourceType::MeshTrafficPermission => Self::MeshTrafficPermission,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_urls_are_kuma_type_names_and_map_back() {
        for ty in Type::ALL {
            assert_eq!(Type::from_type_url(ty.type_url()), Some(ty));
        }
        for ty in ResourceType::ALL {
            assert_eq!(Type::from(ty).type_url(), ty.name());
            assert_eq!(Type::from(ty).resource_type(), Some(ty));
        }
        assert_eq!(Type::DataplaneInsight.resource_type(), None);
        assert_eq!(Type::from_type_url("type.googleapis.com/kuma.mesh.v1alpha1.Mesh"), None);
    }
}
