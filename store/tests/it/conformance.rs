//! The store conformance suite: every test runs on memory, SQLite and PostgreSQL alike.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use store::{Change, ChangeKind, Error, Event, Key, Store};
use time::OffsetDateTime;

use crate::helpers::{Backend, TestStore, labels, run};

/// Declares `mod <test> { fn memory, fn sqlite, fn postgres }` for each conformance test.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            use crate::helpers::{Backend, run};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                run(Backend::Memory, super::$test).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite, super::$test).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(Backend::Postgres, super::$test).await;
            }
        }
    )*};
}

mod batch;

conformance!(
    created_record_reads_back_unchanged,
    duplicate_create_is_already_exists,
    concurrent_creates_of_one_key_let_exactly_one_win,
    update_with_stale_version_is_a_conflict,
    missing_records_are_not_found,
    delete_removes_the_record,
    list_filters_by_kind_and_mesh_sorted_by_mesh_then_name,
    spec_and_labels_round_trip,
    update_keeps_creation_time_and_moves_modification_time,
    delete_mesh_removes_the_mesh_and_everything_in_it,
    delete_mesh_of_a_missing_mesh_removes_nothing,
    every_write_is_broadcast_after_it_commits,
    concurrent_updates_with_one_version_let_exactly_one_win,
    concurrent_upserts_retry_until_every_change_is_applied,
);

fn mesh(name: &str) -> Key {
    Key::global("Mesh", name)
}

fn dataplane(mesh: &str, name: &str) -> Key {
    Key::mesh_scoped("Dataplane", mesh, name)
}

async fn create(store: &Store, key: Key) {
    store.create(key, json!({}), BTreeMap::new()).await.unwrap();
}

async fn created_record_reads_back_unchanged(t: TestStore) {
    let before = OffsetDateTime::now_utc() - Duration::from_micros(1);
    let key = dataplane("default", "web-1");
    let spec = json!({"networking": {"address": "10.0.0.1"}});
    let created =
        t.store.create(key.clone(), spec.clone(), labels(&[("app", "web")])).await.unwrap();
    let after = OffsetDateTime::now_utc();

    assert_eq!(created.key, key);
    assert_eq!(created.version, 1);
    assert_eq!(created.spec, spec);
    assert_eq!(created.creation_time, created.modification_time);
    assert!(before <= created.creation_time && created.creation_time <= after);
    assert_eq!(t.store.get(&key).await.unwrap(), created);
}

async fn duplicate_create_is_already_exists(t: TestStore) {
    let key = mesh("default");
    t.store.create(key.clone(), json!({"first": true}), BTreeMap::new()).await.unwrap();

    let err = t.store.create(key.clone(), json!({"second": true}), BTreeMap::new()).await;
    assert!(matches!(err, Err(Error::AlreadyExists { key: ref k }) if *k == key), "{err:?}");
    assert_eq!(t.store.get(&key).await.unwrap().spec, json!({"first": true}));
}

async fn concurrent_creates_of_one_key_let_exactly_one_win(t: TestStore) {
    let key = mesh("contested");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, key) = (t.store.clone(), key.clone());
            tokio::spawn(
                async move { store.create(key, json!({ "writer": i }), BTreeMap::new()).await },
            )
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::AlreadyExists { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(won, 1);
}

async fn update_with_stale_version_is_a_conflict(t: TestStore) {
    let key = dataplane("default", "web-1");
    create(&t.store, key.clone()).await;
    let updated = t.store.update(key.clone(), json!({"v": 2}), BTreeMap::new(), 1).await.unwrap();
    assert_eq!(updated.version, 2);

    let err = t.store.update(key.clone(), json!({"v": 3}), BTreeMap::new(), 1).await;
    match err {
        Err(Error::Conflict { key: k, expected: 1, actual: 2 }) => assert_eq!(k, key),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(t.store.get(&key).await.unwrap(), updated);
}

async fn missing_records_are_not_found(t: TestStore) {
    let key = dataplane("default", "ghost");
    let not_found =
        |r: &Result<_, Error>| matches!(r, Err(Error::NotFound { key: k }) if *k == key);

    let update = t.store.update(key.clone(), json!({}), BTreeMap::new(), 1).await;
    assert!(not_found(&update.map(|_| ())), "update");
    assert!(not_found(&t.store.get(&key).await.map(|_| ())), "get");
    assert!(not_found(&t.store.delete(&key).await), "delete");
}

async fn delete_removes_the_record(t: TestStore) {
    let (gone, kept) = (dataplane("default", "web-1"), dataplane("default", "web-2"));
    create(&t.store, gone.clone()).await;
    create(&t.store, kept.clone()).await;

    t.store.delete(&gone).await.unwrap();

    assert!(matches!(t.store.get(&gone).await, Err(Error::NotFound { .. })));
    assert!(t.store.get(&kept).await.is_ok());
    // The key is free again.
    create(&t.store, gone).await;
}

async fn list_filters_by_kind_and_mesh_sorted_by_mesh_then_name(t: TestStore) {
    // Inserted out of order; "B" sorts before "a" by bytes, whatever the database locale.
    for (m, n) in [("b", "z"), ("a", "b"), ("b", "a"), ("a", "a"), ("a", "B")] {
        create(&t.store, dataplane(m, n)).await;
    }
    create(&t.store, Key::mesh_scoped("Secret", "a", "token")).await;
    create(&t.store, mesh("a")).await;

    let names = |records: Vec<store::Record>| -> Vec<(String, String)> {
        records.into_iter().map(|r| (r.key.mesh, r.key.name)).collect()
    };
    let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
        items.iter().map(|(m, n)| ((*m).to_owned(), (*n).to_owned())).collect()
    };
    let all = t.store.list("Dataplane", None).await.unwrap();
    assert_eq!(names(all), pairs(&[("a", "B"), ("a", "a"), ("a", "b"), ("b", "a"), ("b", "z")]));
    let in_b = t.store.list("Dataplane", Some("b")).await.unwrap();
    assert_eq!(names(in_b), pairs(&[("b", "a"), ("b", "z")]));
    assert!(t.store.list("Dataplane", Some("c")).await.unwrap().is_empty());
    assert_eq!(t.store.list("Mesh", None).await.unwrap().len(), 1);
}

async fn spec_and_labels_round_trip(t: TestStore) {
    let key = dataplane("default", "web-1");
    let spec = json!({
        "networking": {"address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"app": "web"}}]},
        "text": "quotes \" and 'single', unicode: żółć ✓",
        "number": 1.5,
        "null": null,
    });
    let labels = labels(&[("kuma.io/origin", "zone"), ("team", "a b'c\"d"), ("empty", "")]);
    t.store.create(key.clone(), spec.clone(), labels.clone()).await.unwrap();

    let read = t.store.get(&key).await.unwrap();
    assert_eq!(read.spec, spec);
    assert_eq!(read.labels, labels);
    let listed = t.store.list("Dataplane", Some("default")).await.unwrap();
    assert_eq!(listed, vec![read]);
}

async fn update_keeps_creation_time_and_moves_modification_time(t: TestStore) {
    let key = dataplane("default", "web-1");
    let created = t.store.create(key.clone(), json!({}), BTreeMap::new()).await.unwrap();

    // Two writes may land in the same microsecond; keep writing until the clock has moved.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut version = created.version;
    let updated = loop {
        let updated =
            t.store.update(key.clone(), json!({}), BTreeMap::new(), version).await.unwrap();
        assert_eq!(updated.creation_time, created.creation_time);
        assert!(updated.modification_time >= created.modification_time);
        if updated.modification_time > created.modification_time {
            break updated;
        }
        assert!(Instant::now() < deadline, "modification time never moved");
        version = updated.version;
    };
    assert_eq!(t.store.get(&key).await.unwrap(), updated);
}

async fn delete_mesh_removes_the_mesh_and_everything_in_it(t: TestStore) {
    for m in ["a", "b"] {
        create(&t.store, mesh(m)).await;
        create(&t.store, dataplane(m, "web-2")).await;
        create(&t.store, dataplane(m, "web-1")).await;
        create(&t.store, Key::mesh_scoped("Secret", m, "token")).await;
    }
    create(&t.store, Key::global("Zone", "a")).await;

    let removed = t.store.delete_mesh("a").await.unwrap();

    let expected = vec![
        mesh("a"),
        dataplane("a", "web-1"),
        dataplane("a", "web-2"),
        Key::mesh_scoped("Secret", "a", "token"),
    ];
    assert_eq!(removed, expected);
    for key in &expected {
        assert!(matches!(t.store.get(key).await, Err(Error::NotFound { .. })), "{key} survived");
    }
    assert_eq!(t.store.list("Dataplane", None).await.unwrap().len(), 2);
    assert!(t.store.get(&mesh("b")).await.is_ok());
    assert!(t.store.get(&Key::global("Zone", "a")).await.is_ok());
}

async fn delete_mesh_of_a_missing_mesh_removes_nothing(t: TestStore) {
    // A record that names a mesh that has no Mesh record (as a sync might briefly leave).
    let orphan = dataplane("ghost", "web-1");
    create(&t.store, orphan.clone()).await;
    let mut changes = t.store.changes();

    let err = t.store.delete_mesh("ghost").await;

    assert!(matches!(err, Err(Error::NotFound { key }) if key == mesh("ghost")));
    assert!(t.store.get(&orphan).await.is_ok());
    assert!(changes.try_recv().is_none());
}

async fn every_write_is_broadcast_after_it_commits(t: TestStore) {
    let mut changes = t.store.changes();
    let (m, dp) = (mesh("a"), dataplane("a", "web-1"));
    create(&t.store, m.clone()).await;
    create(&t.store, dp.clone()).await;
    t.store.update(dp.clone(), json!({"v": 2}), BTreeMap::new(), 1).await.unwrap();
    t.store.delete(&dp).await.unwrap();
    create(&t.store, dp.clone()).await;
    t.store.delete_mesh("a").await.unwrap();
    // Failed writes are not broadcast.
    assert!(t.store.create(Key::global("Zone", "z"), json!({}), BTreeMap::new()).await.is_ok());
    assert!(t.store.create(Key::global("Zone", "z"), json!({}), BTreeMap::new()).await.is_err());

    let change = |kind, key: &Key, version| Change { kind, key: key.clone(), version };
    let expected = vec![
        change(ChangeKind::Create, &m, 1),
        change(ChangeKind::Create, &dp, 1),
        change(ChangeKind::Update, &dp, 2),
        change(ChangeKind::Delete, &dp, 2),
        change(ChangeKind::Create, &dp, 1),
        change(ChangeKind::Delete, &m, 1),
        change(ChangeKind::Delete, &dp, 1),
        change(ChangeKind::Create, &Key::global("Zone", "z"), 1),
    ];
    // Each change was sent before its write returned, so nothing needs waiting for.
    let received: Vec<Change> = std::iter::from_fn(|| match changes.try_recv() {
        Some(Event::Changed(change)) => Some(change),
        _ => None,
    })
    .collect();
    assert_eq!(received, expected);
}

async fn concurrent_updates_with_one_version_let_exactly_one_win(t: TestStore) {
    const WRITERS: usize = 8;
    let key = dataplane("default", "web-1");
    create(&t.store, key.clone()).await;

    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, key) = (t.store.clone(), key.clone());
            tokio::spawn(async move {
                store.update(key, json!({ "writer": i }), BTreeMap::new(), 1).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(record) => winners.push(record),
            Err(Error::Conflict { expected: 1, actual: 2, .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    assert_eq!(t.store.get(&key).await.unwrap(), winners.remove(0));
}

async fn concurrent_upserts_retry_until_every_change_is_applied(t: TestStore) {
    const WRITERS: usize = 6;
    let key = Key::global("Counter", "c");
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, key) = (t.store.clone(), key.clone());
            tokio::spawn(async move {
                // Enough attempts for every writer to lose to every other one once.
                store.upsert_with(key, WRITERS + 1, |seen: &mut Vec<usize>| seen.push(i)).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut seen: Vec<usize> =
        serde_json::from_value(t.store.get(&key).await.unwrap().spec).unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (0..WRITERS).collect::<Vec<_>>(), "no change is lost");

    // With no attempt allowed, nothing is written and the caller hears about it.
    let untouched = Key::global("Counter", "none");
    let err = t.store.upsert_with(untouched.clone(), 0, |v: &mut Vec<usize>| v.push(1)).await;
    assert!(matches!(err, Err(Error::NotFound { .. })), "{err:?}");
    assert!(t.store.get(&untouched).await.is_err());
}

/// Persistence, on the backends that have it.
mod survives_restart {
    use super::*;

    #[tokio::test]
    async fn sqlite() {
        run(Backend::Sqlite, data_survives_reopening).await;
    }

    #[tokio::test]
    async fn postgres() {
        run(Backend::Postgres, data_survives_reopening).await;
    }

    async fn data_survives_reopening(t: TestStore) {
        let key = dataplane("default", "web-1");
        create(&t.store, mesh("default")).await;
        t.store.create(key.clone(), json!({"a": 1}), labels(&[("x", "y")])).await.unwrap();
        let updated =
            t.store.update(key.clone(), json!({"a": 2}), BTreeMap::new(), 1).await.unwrap();
        t.store.close().await;

        let reopened = t.reopen().await.unwrap();
        assert_eq!(reopened.get(&key).await.unwrap(), updated);
        assert_eq!(reopened.list("Mesh", None).await.unwrap().len(), 1);
        // Versions go on from where they were.
        let next = reopened.update(key, json!({"a": 3}), BTreeMap::new(), 2).await.unwrap();
        assert_eq!(next.version, 3);
    }
}
