//! The batch write of the conformance suite: every test runs on memory, SQLite and PostgreSQL.

use std::collections::BTreeMap;

use kuma_core::resources::ResourceType;
use serde_json::{Value, json};
use store::{Change, ChangeKind, Error, Event, Key, Store, Write};

use crate::helpers::{TestStore, labels};

conformance!(
    a_batch_applies_its_writes_in_order_and_broadcasts_them_after_the_commit,
    a_failure_in_the_middle_of_a_batch_leaves_nothing_behind,
    a_batch_can_delete_a_mesh_and_roll_that_back,
    an_empty_batch_writes_nothing,
);

fn dataplane(mesh: &str, name: &str) -> Key {
    Key::mesh_scoped("Dataplane", mesh, name)
}

fn create(key: &Key, spec: Value) -> Write {
    Write::Create { key: key.clone(), spec, labels: BTreeMap::new() }
}

fn update(key: &Key, spec: Value, expected_version: u64) -> Write {
    Write::Update { key: key.clone(), spec, labels: labels(&[("v", "2")]), expected_version }
}

fn change(kind: ChangeKind, key: &Key, version: u64) -> Change {
    Change { kind, key: key.clone(), version }
}

/// Everything the store holds of the kinds these tests write.
async fn snapshot(store: &Store) -> Vec<store::Record> {
    let mut all = store.list("Mesh", None).await.unwrap();
    all.extend(store.list("Dataplane", None).await.unwrap());
    all
}

async fn a_batch_applies_its_writes_in_order_and_broadcasts_them_after_the_commit(t: TestStore) {
    let (a, b, c) = (dataplane("m", "a"), dataplane("m", "b"), dataplane("m", "c"));
    t.store.create(c.clone(), json!({"c": 1}), BTreeMap::new()).await.unwrap();
    let mut changes = t.store.changes();

    let written = t
        .store
        .write_all(vec![
            create(&a, json!({"a": 1})),
            create(&b, json!({"b": 1})),
            update(&a, json!({"a": 2}), 1),
            Write::Delete { key: c.clone() },
            // A key deleted earlier in the batch is free again.
            create(&c, json!({"c": 2})),
        ])
        .await
        .unwrap();

    let expected = vec![
        change(ChangeKind::Create, &a, 1),
        change(ChangeKind::Create, &b, 1),
        change(ChangeKind::Update, &a, 2),
        change(ChangeKind::Delete, &c, 1),
        change(ChangeKind::Create, &c, 1),
    ];
    assert_eq!(written, expected);
    let received: Vec<Change> = std::iter::from_fn(|| match changes.try_recv() {
        Some(Event::Changed(change)) => Some(change),
        _ => None,
    })
    .collect();
    assert_eq!(received, expected, "every change is broadcast once the batch returns");
    let stored = t.store.get(&a).await.unwrap();
    assert_eq!(
        (stored.version, stored.spec, stored.labels),
        (2, json!({"a": 2}), labels(&[("v", "2")]))
    );
    assert_eq!(t.store.get(&b).await.unwrap().spec, json!({"b": 1}));
    assert_eq!(t.store.get(&c).await.unwrap().spec, json!({"c": 2}));
    assert_eq!(
        t.store.generation(ResourceType::Dataplane),
        6,
        "one create before and five writes in the batch"
    );
}

async fn a_failure_in_the_middle_of_a_batch_leaves_nothing_behind(t: TestStore) {
    let (kept, gone, fresh) =
        (dataplane("m", "kept"), dataplane("m", "gone"), dataplane("m", "new"));
    t.store.create(kept.clone(), json!({"v": 1}), BTreeMap::new()).await.unwrap();
    t.store.create(gone.clone(), json!({}), BTreeMap::new()).await.unwrap();
    let before = snapshot(&t.store).await;
    let generation = t.store.generation(ResourceType::Dataplane);
    let mut changes = t.store.changes();

    // Each batch writes a little, then one write fails: the stale version, the taken key, the
    // missing record.
    let failing = [
        (update(&kept, json!({"v": 3}), 1), "was modified concurrently"),
        (create(&kept, json!({})), "already exists"),
        (Write::Delete { key: dataplane("m", "ghost") }, "not found"),
    ];
    for (failure, text) in failing {
        let writes = vec![
            create(&fresh, json!({})),
            update(&kept, json!({"v": 2}), 1),
            Write::Delete { key: gone.clone() },
            failure,
            create(&dataplane("m", "never"), json!({})),
        ];
        let err = t.store.write_all(writes).await.unwrap_err();
        let failed_key = match &err {
            Error::Conflict { key, expected: 1, actual: 2 } => key,
            Error::AlreadyExists { key } | Error::NotFound { key } => key,
            other => panic!("unexpected error: {other:?}"),
        };
        let message = err.to_string();
        assert!(message.contains(text), "{message}");
        assert!(message.contains(&failed_key.to_string()), "the error names the record: {message}");

        assert_eq!(snapshot(&t.store).await, before, "after {text}: the batch left nothing");
        assert!(changes.try_recv().is_none(), "nothing broadcast");
        assert_eq!(t.store.generation(ResourceType::Dataplane), generation);
    }
}

async fn a_batch_can_delete_a_mesh_and_roll_that_back(t: TestStore) {
    let mesh = Key::global("Mesh", "m");
    let (inside, other) = (dataplane("m", "web"), dataplane("n", "web"));
    for key in [&mesh, &inside, &other] {
        t.store.create(key.clone(), json!({}), BTreeMap::new()).await.unwrap();
    }
    let before = snapshot(&t.store).await;

    let err = t
        .store
        .write_all(vec![Write::DeleteMesh { name: "m".to_owned() }, create(&other, json!({}))])
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::AlreadyExists { key } if *key == other), "{err:?}");
    assert_eq!(snapshot(&t.store).await, before, "the mesh and what is in it are back");

    let written = t
        .store
        .write_all(vec![
            Write::DeleteMesh { name: "m".to_owned() },
            update(&other, json!({"v": 2}), 1),
        ])
        .await
        .unwrap();
    assert_eq!(
        written,
        vec![
            change(ChangeKind::Delete, &mesh, 1),
            change(ChangeKind::Delete, &inside, 1),
            change(ChangeKind::Update, &other, 2),
        ]
    );
    assert!(matches!(t.store.get(&inside).await, Err(Error::NotFound { .. })));
    assert!(matches!(t.store.get(&mesh).await, Err(Error::NotFound { .. })));
}

async fn an_empty_batch_writes_nothing(t: TestStore) {
    let mut changes = t.store.changes();
    assert_eq!(t.store.write_all(Vec::new()).await.unwrap(), Vec::new());
    assert!(changes.try_recv().is_none());
}
