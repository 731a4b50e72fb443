//! The publishing half of a delta exchange, for any resource with a name and a version: it
//! remembers, per type, which version of each resource the peer holds, and turns the resources
//! the peer should hold into what it lacks and what it must drop.
//!
//! KDS publishes `envoy.service.discovery.v3.Resource`s (a `KumaResource` in an `Any`) keyed by
//! [`ResourceType`]; an xDS server to Envoy publishes [`Item`]s (or its own [`Versioned`] type)
//! keyed by type URL, and builds its `DeltaDiscoveryResponse` from an [`Update`] — or, for the
//! state-of-the-world variant, sends every resource with [`Update::nonce`] as `version_info`
//! whenever there is an update. Nothing here knows a stream or a store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::marker::PhantomData;

use kuma_core::resources::{Resource, ResourceType};
use prost_types::Any;
use proto::envoy::service::discovery::v3::{self as discovery, DeltaDiscoveryResponse};

use crate::kds::delta_resource;

/// A resource as a publisher tracks it.
pub trait Versioned: Clone {
    /// Unique within its type.
    fn name(&self) -> &str;
    /// Changes whenever the content does (a content hash).
    fn version(&self) -> &str;
}

/// A resource reduced to what a delta or state-of-the-world response needs: a name, a version
/// and the payload, for publishers of protocols other than KDS.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The resource name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The resource itself.
    pub payload: Any,
}

/// What the peer lacks of one type, from [`Publisher::diff`].
#[derive(Debug, Clone, PartialEq)]
pub struct Update<R> {
    /// Resources the peer does not hold, or holds in another version.
    pub resources: Vec<R>,
    /// Names the peer holds that are gone.
    pub removed: Vec<String>,
    /// Unique per publisher: the response's nonce (and a state-of-the-world `version_info`).
    pub nonce: String,
}

/// The publishing half for resources `R` of types `T`: remembers, per type, which versions the
/// peer holds.
#[derive(Debug)]
pub struct Publisher<R = discovery::Resource, T = ResourceType> {
    sent: HashMap<T, BTreeMap<String, String>>,
    nonce: u64,
    resource: PhantomData<R>,
}

impl<R: Versioned, T: Eq + Hash> Publisher<R, T> {
    /// Forgets what the peer holds of `ty`, so the next [`diff`](Self::diff) is a full state
    /// (after a subscription or a NACK).
    pub fn forget(&mut self, ty: &T) {
        self.sent.remove(ty);
    }

    /// What brings the peer from what it holds of `ty` to `items`, counted as sent; `None` when
    /// nothing changed. The first update of a type is always produced, even when empty. Only the
    /// resources whose version the peer does not hold are copied.
    pub fn diff<'a>(&mut self, ty: T, items: impl IntoIterator<Item = &'a R>) -> Option<Update<R>>
    where
        R: 'a,
    {
        let first = !self.sent.contains_key(&ty);
        let held = self.sent.entry(ty).or_default();
        let mut present = HashSet::new();
        let mut resources = Vec::new();
        for item in items {
            present.insert(item.name());
            if held.get(item.name()).map(String::as_str) != Some(item.version()) {
                resources.push(item.clone());
            }
        }
        let removed: Vec<String> =
            held.keys().filter(|name| !present.contains(name.as_str())).cloned().collect();
        for name in &removed {
            held.remove(name);
        }
        for resource in &resources {
            held.insert(resource.name().to_owned(), resource.version().to_owned());
        }
        if !first && resources.is_empty() && removed.is_empty() {
            return None;
        }
        self.nonce += 1;
        Some(Update { resources, removed, nonce: self.nonce.to_string() })
    }
}

impl<R, T> Default for Publisher<R, T> {
    fn default() -> Self {
        Self { sent: HashMap::new(), nonce: 0, resource: PhantomData }
    }
}

impl Publisher {
    /// A KDS publisher: delta xDS resources by resource type.
    pub fn new() -> Self {
        Self::default()
    }

    /// The KDS response that brings the peer from what it holds to `items`; `None` when nothing
    /// changed. The first response of a type is always produced, even when empty.
    pub fn update(
        &mut self,
        kind: ResourceType,
        items: &[Resource],
    ) -> Option<DeltaDiscoveryResponse> {
        let encoded: Vec<discovery::Resource> = items.iter().map(delta_resource).collect();
        self.update_encoded(kind, &encoded)
    }

    /// [`update`](Self::update) from resources already encoded with [`delta_resource`], so that
    /// one encoding serves many peers.
    pub fn update_encoded<'a>(
        &mut self,
        kind: ResourceType,
        items: impl IntoIterator<Item = &'a discovery::Resource>,
    ) -> Option<DeltaDiscoveryResponse> {
        let update = self.diff(kind, items)?;
        Some(DeltaDiscoveryResponse {
            type_url: kind.name().to_owned(),
            resources: update.resources,
            removed_resources: update.removed,
            nonce: update.nonce,
            ..DeltaDiscoveryResponse::default()
        })
    }
}

impl Versioned for discovery::Resource {
    fn name(&self) -> &str {
        &self.name
    }

    fn version(&self) -> &str {
        &self.version
    }
}

impl Versioned for Item {
    fn name(&self) -> &str {
        &self.name
    }

    fn version(&self) -> &str {
        &self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, version: &str) -> Item {
        let payload = Any { type_url: "type.googleapis.com/test".into(), value: Vec::new() };
        Item { name: name.into(), version: version.into(), payload }
    }

    #[test]
    fn a_publisher_of_items_keyed_by_type_url_sends_only_what_the_peer_lacks() {
        let mut publisher: Publisher<Item, String> = Publisher::default();
        let clusters = "type.googleapis.com/envoy.config.cluster.v3.Cluster".to_owned();
        let first = publisher.diff(clusters.clone(), &[item("a", "1"), item("b", "1")]).unwrap();
        assert_eq!(first.resources.len(), 2);
        assert!(publisher.diff(clusters.clone(), &[item("a", "1"), item("b", "1")]).is_none());
        let next = publisher.diff(clusters.clone(), &[item("a", "2")]).unwrap();
        assert_eq!(next.resources, [item("a", "2")]);
        assert_eq!(next.removed, ["b"]);
        assert_ne!(next.nonce, first.nonce);
        let listeners = "type.googleapis.com/envoy.config.listener.v3.Listener".to_owned();
        let empty = publisher.diff(listeners, &[]).expect("a first answer even when empty");
        assert!(empty.resources.is_empty() && empty.removed.is_empty());
        publisher.forget(&clusters);
        let again = publisher.diff(clusters, &[item("a", "2")]).unwrap();
        assert_eq!(again.resources.len(), 1, "after forget: a full state");
    }
}
