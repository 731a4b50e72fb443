//! What each side sends: the global's view for a zone, and a zone's own resources.

use kuma_core::resources::{Meta, Resource, ResourceType, Scope, SecretSpec, Spec};
use kuma_core::tokens::{KeyKind, SigningKey, zone_public_key_name};
use store::{self, Record, Store};

use super::{
    ACROSS_ZONES, DELETION_GRACE_LABEL, DISPLAY_NAME_LABEL, GLOBAL_TO_ZONE, KDS_SYNC_LABEL,
    ORIGIN_LABEL, ZONE_LABEL, ZONE_TO_GLOBAL,
};
use crate::kds::hashed_name;

/// Global secrets that never leave the global: the admin's token, user token keys and their
/// revocations, and Kuma's internal CAs.
const GLOBAL_ONLY_SECRETS: [&str; 4] =
    ["admin-user-token", "envoy-admin-ca", "inter-cp-ca", "user-token-revocations"];
const USER_KEY_PREFIX: &str = "user-token-signing-key";

/// A resource the global sends zones.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Named and labelled as zones receive it.
    pub resource: Resource,
    /// For the types zones originate and share (`ZoneIngress`): the zone it came from, which
    /// never receives it back.
    pub origin_zone: Option<String>,
}

/// What the global sends to `zone` for `kind`: globally originated resources, minus what must
/// stay on the global, with Kuma's names and labels. Zone token signing keys go out as their
/// public halves only. For the types zones originate and share (`ZoneIngress`), the resources
/// of every other zone that is enabled (an unknown zone counts as enabled), never the
/// receiver's own; they arrive labelled `kuma.io/origin=global`, so the receiver never sends
/// them back up.
pub async fn global_outgoing(
    store: &Store,
    kind: ResourceType,
    zone: &str,
) -> Result<Vec<Resource>, store::Error> {
    let all = global_outgoing_all(store, kind).await?;
    Ok(all
        .into_iter()
        .filter(|out| out.origin_zone.as_deref() != Some(zone))
        .map(|out| out.resource)
        .collect())
}

/// [`global_outgoing`] for every zone at once: each resource with the zone it must not go back
/// to. Computed from the records of the kinds [`super::global_outgoing_sources`] names only.
pub async fn global_outgoing_all(
    store: &Store,
    kind: ResourceType,
) -> Result<Vec<Outgoing>, store::Error> {
    if !GLOBAL_TO_ZONE.contains(&kind) {
        return Ok(Vec::new());
    }
    let across_zones = ACROSS_ZONES.contains(&kind);
    let disabled_zones = if across_zones { disabled_zones(store).await? } else { Vec::new() };
    let mut items = Vec::new();
    for record in store.list(kind.name(), None).await? {
        let from_zone = record.labels.get(ORIGIN_LABEL).is_some_and(|o| o == "zone");
        let origin_zone = record.labels.get(ZONE_LABEL).cloned();
        let wanted = if across_zones {
            from_zone && origin_zone.as_ref().is_some_and(|origin| !disabled_zones.contains(origin))
        } else {
            !from_zone
        };
        if disabled(&record) || !wanted {
            continue;
        }
        let Some(mut item) = to_item(kind, record) else {
            continue;
        };
        if kind == ResourceType::GlobalSecret && !global_secret_for_zones(&mut item) {
            continue;
        }
        let meta = &mut item.meta;
        meta.labels.insert(ORIGIN_LABEL.to_owned(), "global".to_owned());
        if !keeps_name(kind) {
            let hashed = hashed_name(meta.mesh.as_deref().unwrap_or_default(), &meta.name, &[]);
            meta.labels.entry(DISPLAY_NAME_LABEL.to_owned()).or_insert_with(|| meta.name.clone());
            meta.name = hashed;
        }
        let origin_zone = if across_zones { origin_zone } else { None };
        items.push(Outgoing { resource: item, origin_zone });
    }
    Ok(items)
}

/// What `zone` sends the global for `kind`: the resources created on this zone (not those the
/// global sent), stamped with the zone and a hash-suffixed name.
pub async fn zone_outgoing(
    store: &Store,
    kind: ResourceType,
    zone: &str,
) -> Result<Vec<Resource>, store::Error> {
    if !ZONE_TO_GLOBAL.contains(&kind) {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    for record in store.list(kind.name(), None).await? {
        if disabled(&record) || record.labels.get(ORIGIN_LABEL).is_some_and(|o| o == "global") {
            continue;
        }
        let Some(mut item) = to_item(kind, record) else {
            continue;
        };
        let meta = &mut item.meta;
        meta.labels.remove(DELETION_GRACE_LABEL);
        meta.labels.insert(ORIGIN_LABEL.to_owned(), "zone".to_owned());
        meta.labels.insert(ZONE_LABEL.to_owned(), zone.to_owned());
        meta.labels.entry(DISPLAY_NAME_LABEL.to_owned()).or_insert_with(|| meta.name.clone());
        meta.name = hashed_name(meta.mesh.as_deref().unwrap_or_default(), &meta.name, &[zone]);
        items.push(item);
    }
    Ok(items)
}

/// The names of the zones switched off with `enabled: false`.
async fn disabled_zones(store: &Store) -> Result<Vec<String>, store::Error> {
    let zones = store.list(ResourceType::Zone.name(), None).await?;
    Ok(zones
        .into_iter()
        .filter(|r| r.spec.get("enabled").and_then(|e| e.as_bool()) == Some(false))
        .map(|r| r.key.name)
        .collect())
}

/// Kuma keeps the names of these types across zones (`SkipKDSHash`).
fn keeps_name(kind: ResourceType) -> bool {
    matches!(kind, ResourceType::Mesh | ResourceType::Secret | ResourceType::GlobalSecret)
}

fn disabled(record: &Record) -> bool {
    record.labels.get(KDS_SYNC_LABEL).is_some_and(|v| v == "disabled")
}

fn to_item(kind: ResourceType, record: Record) -> Option<Resource> {
    let key = record.key;
    match Spec::from_value(kind, record.spec) {
        Ok(spec) => {
            let mesh = (kind.scope() == Scope::Mesh).then(|| key.mesh.clone());
            let meta = Meta {
                name: key.name,
                mesh,
                labels: record.labels,
                creation_time: None,
                modification_time: None,
            };
            Some(Resource { meta, spec })
        }
        Err(err) => {
            // Stored specs were validated on the way in; one that no longer parses is skipped
            // rather than stopping the sync of every other resource.
            tracing::warn!(resource = %key, %err, "not syncing a resource whose spec does not parse");
            None
        }
    }
}

/// Filters and maps a GlobalSecret for zones; `false` keeps it on the global.
fn global_secret_for_zones(item: &mut Resource) -> bool {
    let name = item.meta.name.as_str();
    if GLOBAL_ONLY_SECRETS.contains(&name) || name.starts_with(USER_KEY_PREFIX) {
        return false;
    }
    let Some(serial) = KeyKind::Zone.parse_serial(name) else {
        return true;
    };
    let Spec::GlobalSecret(secret) = &item.spec else {
        return false;
    };
    let public =
        secret.bytes().and_then(|pem| SigningKey::from_pem(&pem).ok()).map(|k| k.public_key_pem());
    match public {
        Some(public) => {
            item.meta.name = zone_public_key_name(serial);
            item.spec = Spec::GlobalSecret(SecretSpec::from_bytes(public.as_bytes()));
            true
        }
        None => {
            tracing::warn!(secret = %item.meta.name, "zone token signing key does not parse; not syncing it");
            false
        }
    }
}
