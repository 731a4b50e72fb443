//! Applying what the peer sent: a zone applies the global's resources, the global applies a
//! zone's. Each side only ever writes what the peer owns.

use std::collections::BTreeSet;

use super::{ORIGIN_LABEL, ZONE_LABEL};
use crate::kds::split_resource_name;
use crate::resources::{Resource, ResourceType, Spec};
use crate::store::{self, Key, Record, Store};

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
    let owned = |r: &Record| r.labels.get(ORIGIN_LABEL).is_some_and(|o| o == "global");
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
        let pin = |tags: &mut std::collections::BTreeMap<String, String>| {
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
    let owned = |r: &Record| r.labels.get(ZONE_LABEL).is_some_and(|z| z == zone);
    apply(store, kind, upserts, removed, full_state, &owned).await
}

async fn apply(
    store: &Store,
    kind: ResourceType,
    upserts: Vec<Resource>,
    removed: &[String],
    full_state: bool,
    owned: &(dyn Fn(&Record) -> bool + Sync),
) -> Result<Applied, ApplyError> {
    let fail = |source| ApplyError { kind: kind.name(), source };
    let mut applied = Applied::default();
    let key_of = |r: &Resource| Key {
        kind: kind.name().to_owned(),
        mesh: r.meta.mesh.clone().unwrap_or_default(),
        name: r.meta.name.clone(),
    };
    let present: BTreeSet<Key> = upserts.iter().map(key_of).collect();
    for item in upserts {
        let key = key_of(&item);
        let spec = item.spec.to_value();
        let labels = item.meta.labels;
        match store.get(&key).await {
            Err(store::Error::NotFound { .. }) => {
                match store.create(key, spec, labels).await {
                    Ok(_) => applied.upserted += 1,
                    // Created meanwhile by a local writer: leave it, it is not ours.
                    Err(store::Error::AlreadyExists { key }) => {
                        applied.refused.push(key.to_string())
                    }
                    Err(err) => return Err(fail(err)),
                }
            }
            Err(err) => return Err(fail(err)),
            Ok(current) if !owned(&current) => applied.refused.push(key.to_string()),
            Ok(current) if current.spec == spec && current.labels == labels => {}
            Ok(current) => match store.update(key, spec, labels, current.version).await {
                Ok(_) => applied.upserted += 1,
                // Someone wrote in between; the next change resends this resource.
                Err(store::Error::Conflict { key, .. }) => applied.refused.push(key.to_string()),
                Err(err) => return Err(fail(err)),
            },
        }
    }
    let mut doomed: Vec<Record> = Vec::new();
    for wire in removed {
        let (name, mesh) = split_resource_name(wire);
        let key = Key {
            kind: kind.name().to_owned(),
            mesh: mesh.unwrap_or_default().to_owned(),
            name: name.to_owned(),
        };
        match store.get(&key).await {
            Ok(record) => doomed.push(record),
            Err(store::Error::NotFound { .. }) => {}
            Err(err) => return Err(fail(err)),
        }
    }
    if full_state {
        let stale = store.list(kind.name(), None).await.map_err(fail)?;
        // Only what the peer owns can be stale; everything else is simply not the peer's.
        doomed.extend(stale.into_iter().filter(|r| owned(r) && !present.contains(&r.key)));
    }
    for record in doomed {
        if !owned(&record) {
            applied.refused.push(record.key.to_string());
            continue;
        }
        let result = match kind {
            ResourceType::Mesh => store.delete_mesh(&record.key.name).await.map(|_| ()),
            _ => store.delete(&record.key).await,
        };
        match result {
            Ok(()) | Err(store::Error::NotFound { .. }) => applied.deleted += 1,
            Err(err) => return Err(fail(err)),
        }
    }
    Ok(applied)
}
