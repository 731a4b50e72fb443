use std::collections::BTreeMap;

use kuma_core::resources::{Resource, SecretSpec, Spec};
use kuma_core::tokens::{PublicKey, SigningKey};
use serde_json::json;
use store::{Key, Store};

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

async fn put(
    store: &Store,
    kind: ResourceType,
    mesh: &str,
    name: &str,
    spec: serde_json::Value,
    l: &[(&str, &str)],
) {
    let key = Key { kind: kind.name().to_owned(), mesh: mesh.to_owned(), name: name.to_owned() };
    store.create(key, spec, labels(l)).await.unwrap();
}

fn secret(data: &[u8]) -> serde_json::Value {
    Spec::Secret(SecretSpec::from_bytes(data)).to_value()
}

fn dataplane(service: &str) -> serde_json::Value {
    json!({"networking": {"address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": service}}]}})
}

fn names(items: &[Resource]) -> Vec<&str> {
    items.iter().map(|i| i.meta.name.as_str()).collect()
}

#[test]
fn hashed_names_match_kumas_algorithm() {
    // Golden values computed independently (Python) from FNV-64a and SafeEncodeString.
    assert_eq!(crate::kds::hashed_name("default", "allow-all", &[]), "allow-all-6cf46w7x6f445w75");
    assert_eq!(crate::kds::hashed_name("default", "web-1", &["zone-1"]), "web-1-v7wd4bdwc9994762");
    assert_ne!(crate::kds::hashed_name("a", "x", &[]), crate::kds::hashed_name("b", "x", &[]));
    let long = "n".repeat(300);
    assert_eq!(crate::kds::hashed_name("m", &long, &[]).len(), 236 + 1 + 16);
}

#[tokio::test]
async fn global_keeps_its_private_keys_and_sends_zone_keys_as_public_keys() {
    let store = Store::memory();
    let zone_key = SigningKey::generate().unwrap();
    for (name, data) in [
        ("admin-user-token", b"t".to_vec()),
        ("user-token-signing-key-1", b"k".to_vec()),
        ("user-token-revocations", b"j".to_vec()),
        ("zone-token-revocations", b"j1".to_vec()),
        ("zone-token-signing-key-1", zone_key.to_pem().into_bytes()),
    ] {
        put(&store, ResourceType::GlobalSecret, "", name, secret(&data), &[]).await;
    }
    let items = global_outgoing(&store, ResourceType::GlobalSecret, "zone-1").await.unwrap();
    assert_eq!(names(&items), ["zone-token-revocations", "zone-token-signing-public-key-1"]);
    let Spec::GlobalSecret(public) = &items[1].spec else { panic!("a global secret") };
    let pem = public.bytes().unwrap();
    assert!(String::from_utf8_lossy(&pem).contains("RSA PUBLIC KEY"));
    assert_eq!(PublicKey::from_pem(&pem).unwrap().to_pem(), zone_key.public_key().to_pem());
    assert!(SigningKey::from_pem(&pem).is_err(), "no private key may leave the global");
    assert!(items.iter().all(|i| i.meta.labels[ORIGIN_LABEL] == "global"));
}

#[tokio::test]
async fn policies_get_hashed_names_and_meshes_keep_theirs() {
    let store = Store::memory();
    put(&store, ResourceType::Mesh, "", "default", json!({}), &[]).await;
    let tp = json!({"sources": [{"match": {"kuma.io/service": "*"}}], "destinations": [{"match": {"kuma.io/service": "*"}}]});
    put(&store, ResourceType::TrafficPermission, "default", "allow-all", tp, &[]).await;
    put(&store, ResourceType::TrafficPermission, "default", "hidden", json!({"sources": [{"match": {"kuma.io/service": "*"}}], "destinations": [{"match": {"kuma.io/service": "*"}}]}), &[(KDS_SYNC_LABEL, "disabled")]).await;
    let meshes = global_outgoing(&store, ResourceType::Mesh, "z").await.unwrap();
    assert_eq!(names(&meshes), ["default"]);
    let tps = global_outgoing(&store, ResourceType::TrafficPermission, "z").await.unwrap();
    assert_eq!(names(&tps), ["allow-all-6cf46w7x6f445w75"]);
    assert_eq!(tps[0].meta.labels[DISPLAY_NAME_LABEL], "allow-all");
    let wire = crate::kds::resource_name(&tps[0].meta.name, tps[0].meta.mesh.as_deref());
    assert_eq!(wire, "allow-all-6cf46w7x6f445w75.default");
    // Dataplanes never flow down.
    put(&store, ResourceType::Dataplane, "default", "dp", dataplane("web"), &[]).await;
    assert!(global_outgoing(&store, ResourceType::Dataplane, "z").await.unwrap().is_empty());
}

#[tokio::test]
async fn zone_sends_only_its_own_resources_stamped_with_the_zone() {
    let store = Store::memory();
    put(&store, ResourceType::Dataplane, "default", "web-1", dataplane("web"), &[]).await;
    put(
        &store,
        ResourceType::Dataplane,
        "default",
        "copy",
        dataplane("web"),
        &[(ORIGIN_LABEL, "global")],
    )
    .await;
    let items = zone_outgoing(&store, ResourceType::Dataplane, "zone-1").await.unwrap();
    assert_eq!(names(&items), ["web-1-v7wd4bdwc9994762"]);
    assert_eq!(items[0].meta.labels[ZONE_LABEL], "zone-1");
    assert_eq!(items[0].meta.labels[ORIGIN_LABEL], "zone");
    assert_eq!(items[0].meta.labels[DISPLAY_NAME_LABEL], "web-1");
    // A type the global does not take from zones is never sent, even if asked for.
    put(&store, ResourceType::Mesh, "", "local", json!({}), &[]).await;
    let items = zone_outgoing(&store, ResourceType::Mesh, "zone-1").await.unwrap();
    assert!(items.is_empty(), "{items:?}");
}

fn item(kind: ResourceType, mesh: &str, name: &str, spec: Spec, l: &[(&str, &str)]) -> Resource {
    assert_eq!(spec.resource_type(), kind);
    let mesh = (!mesh.is_empty()).then(|| mesh.to_owned());
    let meta = kuma_core::resources::Meta {
        name: name.to_owned(),
        mesh,
        labels: labels(l),
        creation_time: None,
        modification_time: None,
    };
    Resource { meta, spec }
}

fn mesh_item(name: &str) -> Resource {
    let spec = Spec::from_value(ResourceType::Mesh, json!({})).unwrap();
    item(ResourceType::Mesh, "", name, spec, &[(ORIGIN_LABEL, "global")])
}

#[tokio::test]
async fn zone_applies_the_globals_state_but_never_overwrites_its_own() {
    let store = Store::memory();
    put(&store, ResourceType::Mesh, "", "local", json!({}), &[]).await;
    put(&store, ResourceType::Mesh, "", "stale", json!({}), &[(ORIGIN_LABEL, "global")]).await;

    let upserts = vec![mesh_item("default"), mesh_item("local")];
    let applied = apply_from_global(&store, ResourceType::Mesh, upserts, &[], true).await.unwrap();
    assert_eq!(applied.upserted, 1);
    assert_eq!(applied.deleted, 1, "the stale global mesh goes");
    assert_eq!(applied.refused, ["type=\"Mesh\" name=\"local\""]);
    let local = store.get(&Key::global("Mesh", "local")).await.unwrap();
    assert!(local.labels.is_empty(), "the zone's own mesh is untouched");
    assert!(store.get(&Key::global("Mesh", "stale")).await.is_err());

    // Re-applying the same state writes nothing.
    let again =
        apply_from_global(&store, ResourceType::Mesh, vec![mesh_item("default")], &[], false)
            .await
            .unwrap();
    assert_eq!(again.upserted, 0);

    let applied = apply_from_global(
        &store,
        ResourceType::Mesh,
        vec![],
        &["default.".to_owned(), "local.".to_owned()],
        false,
    )
    .await
    .unwrap();
    assert_eq!(applied.deleted, 1);
    assert_eq!(applied.refused.len(), 1, "a removal of a local resource is refused");
}

#[tokio::test]
async fn global_stamps_zone_items_and_one_zone_cannot_touch_anothers() {
    let store = Store::memory();
    let spec = Spec::from_value(ResourceType::Dataplane, json!({"networking": {"address": "10.0.0.1",
        "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web", "kuma.io/zone": "zone-2"}}]}})).unwrap();
    // zone-1 claims zone-2 in labels and tags: both are pinned to zone-1.
    let claimed =
        item(ResourceType::Dataplane, "default", "web-a", spec.clone(), &[(ZONE_LABEL, "zone-2")]);
    let applied =
        apply_from_zone(&store, "zone-1", ResourceType::Dataplane, vec![claimed], &[], true)
            .await
            .unwrap();
    assert_eq!(applied.upserted, 1);
    let stored = store.get(&Key::mesh_scoped("Dataplane", "default", "web-a")).await.unwrap();
    assert_eq!(stored.labels[ZONE_LABEL], "zone-1");
    assert_eq!(stored.labels[ORIGIN_LABEL], "zone");
    assert_eq!(stored.spec["networking"]["inbound"][0]["tags"]["kuma.io/zone"], "zone-1");

    // zone-2 may neither overwrite nor delete zone-1's dataplane, even with a full state.
    let hijack = item(ResourceType::Dataplane, "default", "web-a", spec, &[]);
    let applied = apply_from_zone(
        &store,
        "zone-2",
        ResourceType::Dataplane,
        vec![hijack],
        &["web-a.default".to_owned()],
        true,
    )
    .await
    .unwrap();
    assert_eq!(applied.upserted, 0);
    assert_eq!(applied.deleted, 0);
    assert_eq!(applied.refused.len(), 2);
    let stored = store.get(&Key::mesh_scoped("Dataplane", "default", "web-a")).await.unwrap();
    assert_eq!(stored.labels[ZONE_LABEL], "zone-1");

    // zone-1's full state without web-a removes it.
    let applied = apply_from_zone(&store, "zone-1", ResourceType::Dataplane, vec![], &[], true)
        .await
        .unwrap();
    assert_eq!(applied.deleted, 1);
}

#[test]
fn a_write_affects_the_outgoing_types_read_from_it() {
    let affected = |kind| global_outgoing_affected_by(kind).collect::<Vec<_>>();
    assert_eq!(affected(ResourceType::Zone), [ResourceType::ZoneIngress]);
    assert_eq!(affected(ResourceType::ZoneIngress), [ResourceType::ZoneIngress]);
    assert_eq!(affected(ResourceType::Mesh), [ResourceType::Mesh]);
    assert!(affected(ResourceType::Dataplane).is_empty(), "zones never receive dataplanes");
    assert_eq!(
        global_outgoing_sources(ResourceType::ZoneIngress),
        [ResourceType::ZoneIngress, ResourceType::Zone]
    );
}
