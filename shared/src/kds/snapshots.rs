//! What the global sends zones, computed once and shared by every zone's stream. Per resource
//! type, the records are listed, chosen and mapped ([`sync::global_outgoing_all`]) and encoded
//! into KDS resources once per store generation of the kinds they are read from
//! ([`sync::global_outgoing_sources`]), in a [`Derived`] cache. A change then costs one listing
//! and encoding for all zones together, and each zone's stream only compares versions to find
//! what its zone lacks.
//!
//! What goes where is `sync`'s decision; this module only remembers the answer.

use std::sync::Arc;

use kuma_core::resources::ResourceType;
use proto::envoy::service::discovery::v3::Resource as DeltaResource;
use store::{self, Derived, Store};

use super::delta_resource;
use super::sync::{self, GLOBAL_TO_ZONE};

/// The shared cache of every type the global sends; cheap to clone.
#[derive(Clone)]
pub struct Snapshots {
    cache: Derived<ResourceType, Snapshot>,
}

/// One type's outgoing resources, encoded.
#[derive(Default)]
pub struct Snapshot {
    items: Vec<Item>,
}

struct Item {
    /// For the types zones originate: the zone it came from, which never gets it back.
    origin_zone: Option<String>,
    resource: DeltaResource,
}

impl Snapshots {
    /// An empty cache over `store`.
    pub fn new(store: Store) -> Self {
        Self { cache: Derived::new(store) }
    }

    /// The outgoing resources of `kind` (none for a type the global does not send). They are
    /// computed again when a kind they are read from was written since, or when `fresh` asks for
    /// it (a zone subscribing or refusing, or a resync of the change feed); concurrent callers
    /// wait for one computation and share it.
    pub async fn get(
        &self,
        kind: ResourceType,
        fresh: bool,
    ) -> Result<Arc<Snapshot>, store::Error> {
        if !GLOBAL_TO_ZONE.contains(&kind) {
            return Ok(Arc::default());
        }
        let sources = sync::global_outgoing_sources(kind);
        self.cache
            .get(
                &kind,
                &sources,
                |_| !fresh,
                || async {
                    let store = self.cache.store();
                    let items = sync::global_outgoing_all(store, kind)
                        .await?
                        .into_iter()
                        .map(|out| Item {
                            resource: delta_resource(&out.resource),
                            origin_zone: out.origin_zone,
                        })
                        .collect();
                    Ok(Snapshot { items })
                },
            )
            .await
    }
}

impl Snapshot {
    /// The encoded resources `zone` receives.
    pub fn for_zone<'a>(&'a self, zone: &'a str) -> impl Iterator<Item = &'a DeltaResource> + 'a {
        let others = move |item: &&Item| item.origin_zone.as_deref() != Some(zone);
        self.items.iter().filter(others).map(|item| &item.resource)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};
    use store::Key;

    use super::*;
    use crate::kds::sync::{ORIGIN_LABEL, ZONE_LABEL};

    fn permission(service: &str) -> Value {
        json!({"sources": [{"match": {"kuma.io/service": "*"}}],
            "destinations": [{"match": {"kuma.io/service": service}}]})
    }

    fn ingress(zone: &str) -> Value {
        json!({"zone": zone, "networking": {"address": "10.0.0.1", "port": 10001}})
    }

    fn names<'a>(resources: impl Iterator<Item = &'a DeltaResource>) -> Vec<&'a str> {
        resources.map(|r| r.name.as_str()).collect()
    }

    #[tokio::test]
    async fn one_snapshot_serves_every_zone_until_a_write_of_its_kind() {
        let store = Store::memory();
        let tp = |name: &str| Key::mesh_scoped("TrafficPermission", "default", name);
        store.create(tp("a"), permission("a"), BTreeMap::new()).await.unwrap();
        let outgoing = Snapshots::new(store.clone());
        let kind = ResourceType::TrafficPermission;

        let first = outgoing.get(kind, false).await.unwrap();
        let again = outgoing.get(kind, false).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "nothing was written: the same snapshot");
        let expected = sync::global_outgoing(&store, kind, "zone-1").await.unwrap();
        let encoded: Vec<DeltaResource> = expected.iter().map(delta_resource).collect();
        assert_eq!(first.for_zone("zone-1").cloned().collect::<Vec<_>>(), encoded);

        // Another kind's write leaves it alone; one of its own kind replaces it.
        store.create(Key::global("Mesh", "other"), json!({}), BTreeMap::new()).await.unwrap();
        assert!(Arc::ptr_eq(&first, &outgoing.get(kind, false).await.unwrap()));
        store.create(tp("b"), permission("b"), BTreeMap::new()).await.unwrap();
        let second = outgoing.get(kind, false).await.unwrap();
        assert_eq!(second.for_zone("zone-1").count(), 2);
        assert!(!Arc::ptr_eq(&second, &outgoing.get(kind, true).await.unwrap()), "fresh");
        // A type the global does not send has nothing.
        let none = outgoing.get(ResourceType::Dataplane, false).await.unwrap();
        assert_eq!(none.for_zone("zone-1").count(), 0);
    }

    #[tokio::test]
    async fn zone_ingresses_skip_their_own_zone_and_follow_disabled_zones() {
        let store = Store::memory();
        for zone in ["zone-1", "zone-2"] {
            let labels = BTreeMap::from([
                (ORIGIN_LABEL.to_owned(), "zone".to_owned()),
                (ZONE_LABEL.to_owned(), zone.to_owned()),
            ]);
            let key = Key::global("ZoneIngress", &format!("ingress-{zone}"));
            store.create(key, ingress(zone), labels).await.unwrap();
        }
        let outgoing = Snapshots::new(store.clone());
        let kind = ResourceType::ZoneIngress;

        let snapshot = outgoing.get(kind, false).await.unwrap();
        let to_zone_1 = names(snapshot.for_zone("zone-1"));
        assert_eq!(to_zone_1.len(), 1);
        assert!(to_zone_1[0].starts_with("ingress-zone-2-"), "{to_zone_1:?}");
        assert_eq!(snapshot.for_zone("zone-3").count(), 2);

        // Switching zone-2 off is a write of another kind that this type reads.
        let zone_2 = Key::global("Zone", "zone-2");
        store.create(zone_2, json!({"enabled": false}), BTreeMap::new()).await.unwrap();
        let snapshot = outgoing.get(kind, false).await.unwrap();
        assert_eq!(snapshot.for_zone("zone-1").count(), 0);
        assert_eq!(names(snapshot.for_zone("zone-2")).len(), 1);
    }
}
