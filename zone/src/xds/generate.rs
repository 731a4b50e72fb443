//! The generator's entry point: the Envoy resources one proxy gets from a mesh view, as pure
//! functions of the view and the proxy's Dataplane (no store, no clock, no randomness), so the
//! same inputs always give the same resources and golden files can pin them down. Problems in
//! the Dataplane that Envoy would reject are left out and reported as warnings.

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;

use super::view::{Dataplane, MeshView};
use super::{inbound, outbound};

/// What a proxy gets over ADS (secrets come from kuma-dp's own SDS server).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// LDS, sorted by name.
    pub listeners: Vec<Listener>,
    /// CDS, sorted by name.
    pub clusters: Vec<Cluster>,
    /// EDS, sorted by cluster name.
    pub endpoints: Vec<ClusterLoadAssignment>,
}

/// The resources and what was left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Generated {
    /// The resources.
    pub resources: Resources,
    /// One line per part of the Dataplane that got no configuration, naming the field.
    pub warnings: Vec<String>,
}

/// The resources of proxy `dp` in `view`.
pub fn generate(view: &MeshView, dp: &Dataplane) -> Generated {
    let mut resources = Resources::default();
    let mut warnings = Vec::new();
    inbound::generate(view, dp, &mut resources, &mut warnings);
    outbound::generate(view, dp, &mut resources, &mut warnings);
    resources.listeners.sort_by(|a, b| a.name.cmp(&b.name));
    resources.clusters.sort_by(|a, b| a.name.cmp(&b.name));
    resources.endpoints.sort_by(|a, b| a.cluster_name.cmp(&b.cluster_name));
    Generated { resources, warnings }
}
