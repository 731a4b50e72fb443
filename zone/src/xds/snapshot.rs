//! A proxy's snapshot: its generated resources by xDS type, each with a version, encoded once
//! and shared by every stream of the proxy. A resource keeps its version while it stays equal to
//! what the previous snapshot had, so streams send only what changed; a cluster that changed
//! gives its endpoints a new version too (Envoy waits for them to warm the new cluster).
//!
//! Versions are process-wide counters, not content hashes: protobuf maps (tags, RBAC policies)
//! encode in no fixed order, so equal messages can have different bytes, while `==` on the
//! messages (kept in [`Snapshot::resources`] for the next comparison and the config dump) is
//! exact.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use envoy_types::pb::google::protobuf::Any;
use prost::Name;

use super::envoy::any;
use super::generate::Resources;

/// The xDS types a sidecar gets from the control plane, in the order updates are sent (clusters
/// before their endpoints, both before the listeners that use them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum XdsType {
    /// CDS.
    Cluster,
    /// EDS.
    Endpoint,
    /// LDS.
    Listener,
}

/// One resource as sent.
#[derive(Debug, PartialEq)]
pub struct Entry {
    /// Its version.
    pub version: String,
    /// The encoded resource.
    pub body: Any,
}

/// The resources of one type.
#[derive(Debug, Default, PartialEq)]
pub struct TypeSnapshot {
    /// The resources by name.
    pub resources: BTreeMap<String, Arc<Entry>>,
    /// The version of the whole set (state-of-the-world responses).
    pub version: String,
}

/// A proxy's resources with versions.
#[derive(Debug, Default)]
pub struct Snapshot {
    types: [TypeSnapshot; 3],
    /// What generation left out (see [`super::Generated::warnings`]).
    pub warnings: Vec<String>,
    /// The resources themselves, for the config dump.
    pub resources: Arc<Resources>,
}

/// The source of versions. Starting from the process start time keeps versions of a restarted
/// control plane from repeating those a proxy still holds.
static NEXT_VERSION: AtomicU64 = AtomicU64::new(0);

impl XdsType {
    /// Every type, in push order.
    pub const ALL: [XdsType; 3] = [Self::Cluster, Self::Endpoint, Self::Listener];

    /// The type URL.
    pub fn url(self) -> String {
        use envoy_types::pb::envoy::config;
        match self {
            Self::Cluster => config::cluster::v3::Cluster::type_url(),
            Self::Endpoint => config::endpoint::v3::ClusterLoadAssignment::type_url(),
            Self::Listener => config::listener::v3::Listener::type_url(),
        }
    }

    /// The type with this URL.
    pub fn from_url(url: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.url() == url)
    }

    /// The short name used in metrics and insights: `cds`, `eds`, `lds`.
    pub fn short(self) -> &'static str {
        match self {
            Self::Cluster => "cds",
            Self::Endpoint => "eds",
            Self::Listener => "lds",
        }
    }

    /// Whether Envoy subscribes to all resources of the type (LDS, CDS) rather than by name.
    pub fn wildcard(self) -> bool {
        self != Self::Endpoint
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl Snapshot {
    /// The snapshot of `resources`, reusing the versions of `previous` for what did not change.
    pub fn next(previous: Option<&Snapshot>, resources: Resources, warnings: Vec<String>) -> Self {
        let empty = Snapshot::default();
        let previous = previous.unwrap_or(&empty);
        let old = &previous.resources;
        let old_clusters: HashMap<&str, _> =
            old.clusters.iter().map(|c| (c.name.as_str(), c)).collect();
        let old_endpoints: HashMap<&str, _> =
            old.endpoints.iter().map(|e| (e.cluster_name.as_str(), e)).collect();
        let old_listeners: HashMap<&str, _> =
            old.listeners.iter().map(|l| (l.name.as_str(), l)).collect();
        let mut changed_clusters = HashSet::new();
        let clusters = typed(
            previous.get(XdsType::Cluster),
            resources.clusters.iter().map(|c| {
                let same = old_clusters.get(c.name.as_str()) == Some(&c);
                if !same {
                    changed_clusters.insert(c.name.as_str());
                }
                (c.name.clone(), same, c)
            }),
        );
        let endpoints = typed(
            previous.get(XdsType::Endpoint),
            resources.endpoints.iter().map(|e| {
                let name = e.cluster_name.as_str();
                let same = old_endpoints.get(name) == Some(&e) && !changed_clusters.contains(name);
                (e.cluster_name.clone(), same, e)
            }),
        );
        let listeners = typed(
            previous.get(XdsType::Listener),
            resources
                .listeners
                .iter()
                .map(|l| (l.name.clone(), old_listeners.get(l.name.as_str()) == Some(&l), l)),
        );
        Snapshot {
            types: [clusters, endpoints, listeners],
            warnings,
            resources: Arc::new(resources),
        }
    }

    /// The resources of type `ty`.
    pub fn get(&self, ty: XdsType) -> &TypeSnapshot {
        &self.types[ty.index()]
    }

    /// The version of resource `name` of type `ty`, if it exists.
    pub fn version(&self, ty: XdsType, name: &str) -> Option<&str> {
        self.get(ty).resources.get(name).map(|e| e.version.as_str())
    }
}

/// Builds one type's set from (name, equal to the previous message, message): an equal
/// resource keeps its entry and version; the others are encoded.
fn typed<'m, M: Name + 'm>(
    previous: &TypeSnapshot,
    items: impl Iterator<Item = (String, bool, &'m M)>,
) -> TypeSnapshot {
    let mut resources = BTreeMap::new();
    let mut reused = 0;
    for (name, same, message) in items {
        let entry = match previous.resources.get(&name) {
            Some(old) if same => {
                reused += 1;
                old.clone()
            }
            _ => Arc::new(Entry { version: fresh_version(), body: any(message) }),
        };
        resources.insert(name, entry);
    }
    let unchanged = reused == resources.len() && reused == previous.resources.len();
    let version = if unchanged && !previous.version.is_empty() {
        previous.version.clone()
    } else {
        fresh_version()
    };
    TypeSnapshot { resources, version }
}

fn fresh_version() -> String {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // The first call seeds the counter with the start time in microseconds-ish resolution.
    let _ = NEXT_VERSION.compare_exchange(0, started << 20, Ordering::AcqRel, Ordering::Acquire);
    NEXT_VERSION.fetch_add(1, Ordering::AcqRel).to_string()
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::config::cluster::v3::Cluster;
    use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;

    use super::*;

    fn resources(clusters: &[(&str, u32)]) -> Resources {
        Resources {
            clusters: clusters
                .iter()
                .map(|(name, timeout)| Cluster {
                    name: (*name).to_owned(),
                    per_connection_buffer_limit_bytes: Some(
                        envoy_types::pb::google::protobuf::UInt32Value { value: *timeout },
                    ),
                    ..Default::default()
                })
                .collect(),
            endpoints: clusters
                .iter()
                .map(|(name, _)| ClusterLoadAssignment {
                    cluster_name: (*name).to_owned(),
                    ..Default::default()
                })
                .collect(),
            listeners: Vec::new(),
        }
    }

    #[test]
    fn unchanged_resources_keep_their_versions() {
        let first = Snapshot::next(None, resources(&[("a", 1), ("b", 1)]), Vec::new());
        let second = Snapshot::next(Some(&first), resources(&[("a", 1), ("b", 2)]), Vec::new());
        assert_eq!(first.version(XdsType::Cluster, "a"), second.version(XdsType::Cluster, "a"));
        assert_ne!(first.version(XdsType::Cluster, "b"), second.version(XdsType::Cluster, "b"));
        assert_ne!(first.get(XdsType::Cluster).version, second.get(XdsType::Cluster).version);
        // The endpoints of a changed cluster are sent again even though they are equal.
        assert_eq!(first.version(XdsType::Endpoint, "a"), second.version(XdsType::Endpoint, "a"));
        assert_ne!(first.version(XdsType::Endpoint, "b"), second.version(XdsType::Endpoint, "b"));
        let third = Snapshot::next(Some(&second), resources(&[("a", 1), ("b", 2)]), Vec::new());
        assert_eq!(second.get(XdsType::Cluster).version, third.get(XdsType::Cluster).version);
        assert_eq!(second.get(XdsType::Endpoint).version, third.get(XdsType::Endpoint).version);
        let fourth = Snapshot::next(Some(&third), resources(&[("a", 1)]), Vec::new());
        assert_ne!(third.get(XdsType::Cluster).version, fourth.get(XdsType::Cluster).version);
        assert_eq!(fourth.version(XdsType::Cluster, "b"), None);
    }

    #[test]
    fn type_urls_round_trip() {
        for ty in XdsType::ALL {
            assert_eq!(XdsType::from_url(&ty.url()), Some(ty));
        }
        assert_eq!(
            XdsType::from_url("type.googleapis.com/envoy.config.route.v3.RouteConfiguration"),
            None
        );
    }
}
