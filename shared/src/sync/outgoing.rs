//! What each side sends: the global's view for a zone, and a zone's own resources.

use super::{
    DELETION_GRACE_LABEL, DISPLAY_NAME_LABEL, GLOBAL_TO_ZONE, Item, KDS_SYNC_LABEL, ORIGIN_LABEL,
    ZONE_LABEL,
};
use crate::resources::{ResourceType, SecretSpec, Spec};
use crate::store::{self, Record, Store};
use crate::tokens::{KeyKind, SigningKey, zone_public_key_name};

/// Global secrets that never leave the global: the admin's token, user token keys and their
/// revocations, and Kuma's internal CAs.
const GLOBAL_ONLY_SECRETS: [&str; 4] = [
    "admin-user-token",
    "envoy-admin-ca",
    "inter-cp-ca",
    "user-token-revocations",
];
const USER_KEY_PREFIX: &str = "user-token-signing-key";

/// What the global sends to `zone` for `kind`: globally originated resources, minus what must
/// stay on the global, with Kuma's names and labels. Zone token signing keys go out as their
/// public halves only.
pub async fn global_outgoing(
    store: &Store,
    kind: ResourceType,
    _zone: &str,
) -> Result<Vec<Item>, store::Error> {
    if !GLOBAL_TO_ZONE.contains(&kind) {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    for record in store.list(kind.name(), None).await? {
        if disabled(&record) || record.labels.get(ORIGIN_LABEL).is_some_and(|o| o == "zone") {
            continue;
        }
        let Some(mut item) = to_item(kind, record) else {
            continue;
        };
        if kind == ResourceType::GlobalSecret && !global_secret_for_zones(&mut item) {
            continue;
        }
        item.labels
            .insert(ORIGIN_LABEL.to_owned(), "global".to_owned());
        if !keeps_name(kind) {
            let hashed = hashed_name(&item.mesh, &item.name, &[]);
            item.labels
                .entry(DISPLAY_NAME_LABEL.to_owned())
                .or_insert_with(|| item.name.clone());
            item.name = hashed;
        }
        items.push(item);
    }
    Ok(items)
}

/// What `zone` sends the global for `kind`: the resources created on this zone (not those the
/// global sent), stamped with the zone and a hash-suffixed name.
pub async fn zone_outgoing(
    store: &Store,
    kind: ResourceType,
    zone: &str,
) -> Result<Vec<Item>, store::Error> {
    let mut items = Vec::new();
    for record in store.list(kind.name(), None).await? {
        if disabled(&record)
            || record
                .labels
                .get(ORIGIN_LABEL)
                .is_some_and(|o| o == "global")
        {
            continue;
        }
        let Some(mut item) = to_item(kind, record) else {
            continue;
        };
        item.labels.remove(DELETION_GRACE_LABEL);
        item.labels
            .insert(ORIGIN_LABEL.to_owned(), "zone".to_owned());
        item.labels.insert(ZONE_LABEL.to_owned(), zone.to_owned());
        item.labels
            .entry(DISPLAY_NAME_LABEL.to_owned())
            .or_insert_with(|| item.name.clone());
        item.name = hashed_name(&item.mesh, &item.name, &[zone]);
        items.push(item);
    }
    Ok(items)
}

/// Kuma keeps the names of these types across zones (`SkipKDSHash`).
fn keeps_name(kind: ResourceType) -> bool {
    matches!(
        kind,
        ResourceType::Mesh | ResourceType::Secret | ResourceType::GlobalSecret
    )
}

fn disabled(record: &Record) -> bool {
    record
        .labels
        .get(KDS_SYNC_LABEL)
        .is_some_and(|v| v == "disabled")
}

fn to_item(kind: ResourceType, record: Record) -> Option<Item> {
    let key = record.key;
    match Spec::from_value(kind, record.spec) {
        Ok(spec) => Some(Item {
            kind,
            name: key.name,
            mesh: key.mesh,
            labels: record.labels,
            spec,
        }),
        Err(err) => {
            // Stored specs were validated on the way in; one that no longer parses is skipped
            // rather than stopping the sync of every other resource.
            tracing::warn!(resource = %key, %err, "not syncing a resource whose spec does not parse");
            None
        }
    }
}

/// Filters and maps a GlobalSecret for zones; `false` keeps it on the global.
fn global_secret_for_zones(item: &mut Item) -> bool {
    if GLOBAL_ONLY_SECRETS.contains(&item.name.as_str()) || item.name.starts_with(USER_KEY_PREFIX) {
        return false;
    }
    let Some(serial) = KeyKind::Zone.parse_serial(&item.name) else {
        return true;
    };
    let Spec::GlobalSecret(secret) = &item.spec else {
        return false;
    };
    let public = secret
        .bytes()
        .and_then(|pem| SigningKey::from_pem(&pem).ok())
        .map(|k| k.public_key_pem());
    match public {
        Some(public) => {
            item.name = zone_public_key_name(serial);
            item.spec = Spec::GlobalSecret(SecretSpec::from_bytes(public.as_bytes()));
            true
        }
        None => {
            tracing::warn!(secret = %item.name, "zone token signing key does not parse; not syncing it");
            false
        }
    }
}

/// Kuma's `HashedName`: the name (at most 236 characters), a dash, and a 16-character suffix from
/// FNV-64a over `mesh`, `name` and `extra` concatenated, spelled with Kubernetes'
/// `SafeEncodeString` alphabet, so names from different meshes and zones never collide.
pub fn hashed_name(mesh: &str, name: &str, extra: &[&str]) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for part in [mesh, name].into_iter().chain(extra.iter().copied()) {
        for byte in part.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    let hex = format!("{hash:016x}");
    let suffix: String = hex
        .bytes()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect();
    let short: String = name.chars().take(236).collect();
    format!("{short}-{suffix}")
}
