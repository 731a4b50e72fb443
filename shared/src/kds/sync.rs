//! The multizone sync rules, apart from the wire: which resources flow from the global to zones
//! and back, how each side names and labels them, and how each side applies what it receives
//! without letting a peer touch what it does not own.
//!
//! This module reads and writes the store and knows the resource types; it knows nothing of gRPC
//! or protobuf (`kds` converts the [`Resource`](kuma_core::resources::Resource)s it deals in to
//! and from `KumaResource`s) nor of who the peer is beyond the zone name it is handed after
//! authentication. Which kinds each outgoing type is read from ([`global_outgoing_sources`]) is
//! written here once; what a write affects ([`global_outgoing_affected_by`]) follows from it.

use kuma_core::resources::ResourceType;

mod apply;
mod outgoing;

pub use apply::{Applied, ApplyError, apply_from_global, apply_from_zone};
pub use outgoing::{Outgoing, global_outgoing, global_outgoing_all, zone_outgoing};

/// Where a resource was created: `global` or `zone`.
pub const ORIGIN_LABEL: &str = "kuma.io/origin";
/// The zone a zone-originated resource came from, stamped by the global.
pub const ZONE_LABEL: &str = "kuma.io/zone";
/// The name a resource had before the sync gave it a hash suffix.
pub const DISPLAY_NAME_LABEL: &str = "kuma.io/display-name";
/// `enabled` or `disabled`: overrides whether a resource is synced at all.
pub const KDS_SYNC_LABEL: &str = "kuma.io/kds-sync";
/// Removed from resources a zone sends (Kuma's mapper does the same).
const DELETION_GRACE_LABEL: &str = "kuma.io/deletion-grace-period-started-at";

/// Types the global sends to zones (Kuma's `GlobalToZones` and `SyncedAcrossZones` flags), in
/// the order a zone asks for them: meshes before what lives in them. `ZoneIngress` is the one
/// that zones originate: the global passes each zone's ingresses on to the other zones.
pub const GLOBAL_TO_ZONE: [ResourceType; 6] = [
    ResourceType::Mesh,
    ResourceType::GlobalSecret,
    ResourceType::Secret,
    ResourceType::TrafficPermission,
    ResourceType::MeshTrafficPermission,
    ResourceType::ZoneIngress,
];

/// Types zones send to the global (Kuma's `ZoneToGlobal` flag).
pub const ZONE_TO_GLOBAL: [ResourceType; 2] = [ResourceType::Dataplane, ResourceType::ZoneIngress];

/// Types a zone creates and the global passes on to the other zones (Kuma's `SyncedAcrossZones`).
const ACROSS_ZONES: [ResourceType; 1] = [ResourceType::ZoneIngress];

/// The kinds whose records decide what the global sends zones of `kind`: the kind itself, and
/// `Zone` (which zones are disabled) for the types zones share.
pub fn global_outgoing_sources(kind: ResourceType) -> Vec<ResourceType> {
    let mut sources = vec![kind];
    if ACROSS_ZONES.contains(&kind) {
        sources.push(ResourceType::Zone);
    }
    sources
}

/// The types the global sends zones whose content a write of `written` may change: those read
/// from it ([`global_outgoing_sources`]). Switching a `Zone` on or off changes which zone
/// ingresses the other zones receive.
pub fn global_outgoing_affected_by(written: ResourceType) -> impl Iterator<Item = ResourceType> {
    GLOBAL_TO_ZONE.into_iter().filter(move |kind| global_outgoing_sources(*kind).contains(&written))
}

#[cfg(test)]
mod tests;
