//! Applying what the peer sent: a zone applies the global's resources, the global applies a
//! zone's. Each side only ever writes what the peer owns.
//!
//! A response is planned against the store (one read per resource, or one listing of the type
//! for large responses) and then written as one batch, so it is stored whole or not at all and
//! costs one commit however many resources it carries.

use std::collections::{BTreeMap, BTreeSet};

use kuma_core::resources::{Resource, ResourceType, Spec};
use serde_json::Value;
use store::{self, Key, Record, Store, Write};

use super::{ORIGIN_LABEL, ZONE_LABEL};
use crate::kds::split_resource_name;

/// A response may race a local writer between the read and the batch; it is planned again from
/// a fresh read this many times in all before the peer gets a NACK.
const ATTEMPTS: usize = 3;
/// Above this many names in a response, one listing of the type is cheaper than a read per name.
const LIST_ABOVE: usize = 16;

/// What an apply did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Created or changed.
    pub upserted: usize,
    /// Deleted.
    pub deleted: usize,
    /// Refused because the peer does not own them (a zone's own resource on the zone; another
    /// zone's resource on the global), with the key for the log.
    pub refused: Vec<String>,
}

/// Applying failed in the store; the peer should get a NACK and resend.
#[derive(Debug, thiserror::Error)]
#[error("could not apply the {kind} resources")]
pub struct ApplyError {
    kind: &'static str,
    #[source]
    source: store::Error,
}

/// A zone applies `upserts` and `removed` (wire names) of `kind` from the global. With
/// `full_state` (the first response of a stream) every global-origin resource of `kind` that is
/// not in `upserts` is deleted. Resources created on this zone are never overwritten or deleted.
pub async fn apply_from_global(
    store: &Store,
    kind: ResourceType,
    upserts: Vec<Resource>,
    removed: &[String],
    full_state: bool,
) -> Result<Applied, ApplyError> {
    let owned =
        |labels: &BTreeMap<String, String>| labels.get(ORIGIN_LABEL).is_some_and(|o| o == "global");
    apply(store, kind, upserts, removed, full_state, &owned).await
}

/// The global applies `upserts` and `removed` of `kind` from `zone`. Every item is stamped with
/// `kuma.io/zone=<zone>` and `kuma.io/origin=zone` whatever it claimed, `kuma.io/zone` tags in a
/// Dataplane's inbounds and a ZoneIngress's `zone` and available services are pinned to
/// `zone`, and only resources stamped with this zone are written or deleted.
pub async fn apply_from_zone(
    store: &Store,
    zone: &str,
    kind: ResourceType,
    mut upserts: Vec<Resource>,
    removed: &[String],
    full_state: bool,
) -> Result<Applied, ApplyError> {
    for item in &mut upserts {
        item.meta.labels.insert(ZONE_LABEL.to_owned(), zone.to_owned());
        item.meta.labels.insert(ORIGIN_LABEL.to_owned(), "zone".to_owned());
        let pin = |tags: &mut BTreeMap<String, String>| {
            if let Some(tag) = tags.get_mut(ZONE_LABEL) {
                zone.clone_into(tag);
            }
        };
        match &mut item.spec {
            Spec::Dataplane(dp) => {
                let inbounds = dp.networking.iter_mut().flat_map(|n| n.inbound.iter_mut());
                inbounds.for_each(|inbound| pin(&mut inbound.tags));
            }
            Spec::ZoneIngress(ingress) => {
                zone.clone_into(&mut ingress.zone);
                ingress.available_services.iter_mut().for_each(|s| pin(&mut s.tags));
            }
            _ => {}
        }
    }
    let owned =
        |labels: &BTreeMap<String, String>| labels.get(ZONE_LABEL).is_some_and(|z| z == zone);
    apply(store, kind, upserts, removed, full_state, &owned).await
}

async fn apply(
    store: &Store,
    kind: ResourceType,
    upserts: Vec<Resource>,
    removed: &[String],
    full_state: bool,
    owned: &(dyn Fn(&BTreeMap<String, String>) -> bool + Sync),
) -> Result<Applied, ApplyError> {
    let fail = |source| ApplyError { kind: kind.name(), source };
    let items: Vec<Item> = upserts.into_iter().map(|r| Item::new(kind, r)).collect();
    let mut attempt = 1;
    loop {
        let (writes, applied) =
            plan(store, kind, &items, removed, full_state, owned).await.map_err(fail)?;
        match store.write_all(writes).await {
            Ok(_) => return Ok(applied),
            // A local writer got in between the read and the batch: read again, so that what it
            // wrote is judged by the ownership rules like everything else.
            Err(
                store::Error::AlreadyExists { .. }
                | store::Error::Conflict { .. }
                | store::Error::NotFound { .. },
            ) if attempt < ATTEMPTS => attempt += 1,
            Err(err) => return Err(fail(err)),
        }
    }
}

/// The writes that bring the store to what the peer sent, decided resource by resource in the
/// order the peer sent them (upserts, then removals, then what a full state leaves out), each
/// against the store as the writes before it leave it.
async fn plan(
    store: &Store,
    kind: ResourceType,
    items: &[Item],
    removed: &[String],
    full_state: bool,
    owned: &(dyn Fn(&BTreeMap<String, String>) -> bool + Sync),
) -> Result<(Vec<Write>, Applied), store::Error> {
    let whole = full_state || items.len() + removed.len() > LIST_ABOVE;
    let mut view = View::read(store, kind, whole).await?;
    let mut writes = Vec::new();
    let mut applied = Applied::default();
    for item in items {
        let decision = match view.get(store, &item.key).await? {
            None => Decision::Create,
            Some(current) if !owned(&current.labels) => Decision::Refuse,
            Some(current) if current.spec == item.spec && current.labels == item.labels => {
                Decision::Keep
            }
            Some(current) => Decision::Update(current.version),
        };
        let (key, spec, labels) = (item.key.clone(), item.spec.clone(), item.labels.clone());
        let version = match decision {
            Decision::Refuse => {
                applied.refused.push(key.to_string());
                continue;
            }
            Decision::Keep => continue,
            Decision::Create => {
                writes.push(Write::Create { key: key.clone(), spec, labels });
                1
            }
            Decision::Update(expected_version) => {
                writes.push(Write::Update { key: key.clone(), spec, labels, expected_version });
                expected_version + 1
            }
        };
        view.put(key, Held { version, spec: item.spec.clone(), labels: item.labels.clone() });
        applied.upserted += 1;
    }
    let mut doomed = Vec::new();
    for wire in removed {
        let (name, mesh) = split_resource_name(wire);
        let key = Key {
            kind: kind.name().to_owned(),
            mesh: mesh.unwrap_or_default().to_owned(),
            name: name.to_owned(),
        };
        doomed.push(key);
    }
    if full_state {
        // Only what the peer owns can be stale; everything else is simply not the peer's.
        let present: BTreeSet<&Key> = items.iter().map(|item| &item.key).collect();
        doomed.extend(
            view.held()
                .filter(|(key, held)| owned(&held.labels) && !present.contains(key))
                .map(|(key, _)| key.clone()),
        );
    }
    for key in doomed {
        // A name removed twice, or removed and left out of a full state, is deleted once.
        let Some(current) = view.get(store, &key).await? else { continue };
        if !owned(&current.labels) {
            applied.refused.push(key.to_string());
            continue;
        }
        writes.push(match kind {
            ResourceType::Mesh => Write::DeleteMesh { name: key.name.clone() },
            _ => Write::Delete { key: key.clone() },
        });
        view.remove(key);
        applied.deleted += 1;
    }
    Ok((writes, applied))
}

enum Decision {
    Create,
    Update(u64),
    Keep,
    Refuse,
}

/// A received resource in the store's terms.
struct Item {
    key: Key,
    spec: Value,
    labels: BTreeMap<String, String>,
}

impl Item {
    fn new(kind: ResourceType, resource: Resource) -> Self {
        let key = Key {
            kind: kind.name().to_owned(),
            mesh: resource.meta.mesh.unwrap_or_default(),
            name: resource.meta.name,
        };
        Self { key, spec: resource.spec.to_value(), labels: resource.meta.labels }
    }
}

/// What applying needs of a stored record.
struct Held {
    version: u64,
    spec: Value,
    labels: BTreeMap<String, String>,
}

impl From<Record> for Held {
    fn from(record: Record) -> Self {
        Self { version: record.version, spec: record.spec, labels: record.labels }
    }
}

/// The records of one type as the planned writes leave them. Read one by one on first use, or
/// all at once with one listing (`complete`: a key missing from it is not in the store).
struct View {
    records: BTreeMap<Key, Option<Held>>,
    complete: bool,
}

impl View {
    async fn read(store: &Store, kind: ResourceType, whole: bool) -> Result<Self, store::Error> {
        if !whole {
            return Ok(Self { records: BTreeMap::new(), complete: false });
        }
        let listed = store.list(kind.name(), None).await?;
        let records = listed.into_iter().map(|r| (r.key.clone(), Some(Held::from(r)))).collect();
        Ok(Self { records, complete: true })
    }

    async fn get(&mut self, store: &Store, key: &Key) -> Result<Option<&Held>, store::Error> {
        if !self.complete && !self.records.contains_key(key) {
            let held = match store.get(key).await {
                Ok(record) => Some(Held::from(record)),
                Err(store::Error::NotFound { .. }) => None,
                Err(err) => return Err(err),
            };
            self.records.insert(key.clone(), held);
        }
        Ok(self.records.get(key).and_then(Option::as_ref))
    }

    fn put(&mut self, key: Key, held: Held) {
        self.records.insert(key, Some(held));
    }

    fn remove(&mut self, key: Key) {
        self.records.insert(key, None);
    }

    /// Every record present, sorted by key.
    fn held(&self) -> impl Iterator<Item = (&Key, &Held)> {
        self.records.iter().filter_map(|(key, held)| held.as_ref().map(|h| (key, h)))
    }
}
