//! The `memory` backend: a map behind a mutex. Nothing survives a restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use time::OffsetDateTime;

use super::{Change, ChangeKind, Error, Key, MESH_KIND, Record, Write};

#[derive(Clone, Default)]
pub(super) struct MemoryStore {
    records: Arc<Mutex<HashMap<Key, Record>>>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Record>> {
        // No write panics between changing the map and finishing its call (a batch rolls back
        // before returning its error), so a poisoned lock is safe to keep using.
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn create(
        &self,
        key: Key,
        spec: Value,
        labels: BTreeMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<Record, Error> {
        create(&mut self.lock(), key, spec, labels, now)
    }

    pub(super) fn update(
        &self,
        key: Key,
        spec: Value,
        labels: BTreeMap<String, String>,
        expected_version: u64,
        now: OffsetDateTime,
    ) -> Result<Record, Error> {
        update(&mut self.lock(), key, spec, labels, expected_version, now).map(|(new, _)| new)
    }

    pub(super) fn delete(&self, key: &Key) -> Result<u64, Error> {
        delete(&mut self.lock(), key).map(|r| r.version)
    }

    /// Removes the Mesh record and every record inside it under one lock. Returns the removed
    /// keys with their last versions, the Mesh first and the rest sorted.
    pub(super) fn delete_mesh(&self, mesh: &str) -> Result<Vec<(Key, u64)>, Error> {
        let removed = delete_mesh(&mut self.lock(), mesh)?;
        Ok(removed.into_iter().map(|r| (r.key, r.version)).collect())
    }

    /// Performs `writes` in order under one lock. When one fails, the records the earlier ones
    /// touched are put back as they were, so the batch leaves nothing behind.
    pub(super) fn write_all(
        &self,
        writes: Vec<Write>,
        now: OffsetDateTime,
    ) -> Result<Vec<Change>, Error> {
        let mut records = self.lock();
        // What each touched key held before, oldest first: replayed backwards to roll back.
        let mut undo: Vec<(Key, Option<Record>)> = Vec::new();
        let mut changes = Vec::with_capacity(writes.len());
        for write in writes {
            match write_one(&mut records, write, now, &mut undo, &mut changes) {
                Ok(()) => {}
                Err(err) => {
                    for (key, before) in undo.into_iter().rev() {
                        match before {
                            Some(record) => records.insert(key, record),
                            None => records.remove(&key),
                        };
                    }
                    return Err(err);
                }
            }
        }
        Ok(changes)
    }

    pub(super) fn get(&self, key: &Key) -> Result<Record, Error> {
        self.lock().get(key).cloned().ok_or_else(|| Error::NotFound { key: key.clone() })
    }

    pub(super) fn list(&self, kind: &str, mesh: Option<&str>) -> Vec<Record> {
        let mut out: Vec<Record> = self
            .lock()
            .values()
            .filter(|r| r.key.kind == kind && mesh.is_none_or(|m| r.key.mesh == m))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

fn write_one(
    records: &mut HashMap<Key, Record>,
    write: Write,
    now: OffsetDateTime,
    undo: &mut Vec<(Key, Option<Record>)>,
    changes: &mut Vec<Change>,
) -> Result<(), Error> {
    let change =
        |kind, record: &Record| Change { kind, key: record.key.clone(), version: record.version };
    match write {
        Write::Create { key, spec, labels } => {
            let record = create(records, key, spec, labels, now)?;
            changes.push(change(ChangeKind::Create, &record));
            undo.push((record.key, None));
        }
        Write::Update { key, spec, labels, expected_version } => {
            let (record, before) = update(records, key, spec, labels, expected_version, now)?;
            changes.push(change(ChangeKind::Update, &record));
            undo.push((record.key, Some(before)));
        }
        Write::Delete { key } => {
            let before = delete(records, &key)?;
            changes.push(change(ChangeKind::Delete, &before));
            undo.push((key, Some(before)));
        }
        Write::DeleteMesh { name } => {
            for before in delete_mesh(records, &name)? {
                changes.push(change(ChangeKind::Delete, &before));
                undo.push((before.key.clone(), Some(before)));
            }
        }
    }
    Ok(())
}

fn create(
    records: &mut HashMap<Key, Record>,
    key: Key,
    spec: Value,
    labels: BTreeMap<String, String>,
    now: OffsetDateTime,
) -> Result<Record, Error> {
    if records.contains_key(&key) {
        return Err(Error::AlreadyExists { key });
    }
    let record = Record {
        key: key.clone(),
        version: 1,
        spec,
        labels,
        creation_time: now,
        modification_time: now,
    };
    records.insert(key, record.clone());
    Ok(record)
}

/// Returns the new record and the one it replaced.
fn update(
    records: &mut HashMap<Key, Record>,
    key: Key,
    spec: Value,
    labels: BTreeMap<String, String>,
    expected_version: u64,
    now: OffsetDateTime,
) -> Result<(Record, Record), Error> {
    let Some(existing) = records.get_mut(&key) else {
        return Err(Error::NotFound { key });
    };
    if existing.version != expected_version {
        return Err(Error::Conflict { key, expected: expected_version, actual: existing.version });
    }
    let record = Record {
        key,
        version: existing.version + 1,
        spec,
        labels,
        creation_time: existing.creation_time,
        modification_time: now,
    };
    let before = std::mem::replace(existing, record.clone());
    Ok((record, before))
}

/// Returns the removed record.
fn delete(records: &mut HashMap<Key, Record>, key: &Key) -> Result<Record, Error> {
    records.remove(key).ok_or_else(|| Error::NotFound { key: key.clone() })
}

/// Returns the removed records, the Mesh first and the rest sorted by key.
fn delete_mesh(records: &mut HashMap<Key, Record>, mesh: &str) -> Result<Vec<Record>, Error> {
    let mesh_key = Key::global(MESH_KIND, mesh);
    let Some(mesh_record) = records.remove(&mesh_key) else {
        return Err(Error::NotFound { key: mesh_key });
    };
    let mut inside: Vec<Record> =
        records.extract_if(|key, _| key.mesh == mesh).map(|(_, record)| record).collect();
    inside.sort_by(|a, b| a.key.cmp(&b.key));
    let mut removed = vec![mesh_record];
    removed.extend(inside);
    Ok(removed)
}
