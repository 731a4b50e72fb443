//! The `memory` backend: a map behind a mutex. Nothing survives a restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use time::OffsetDateTime;

use super::{Error, Key, MESH_KIND, Record};

#[derive(Clone, Default)]
pub(super) struct MemoryStore {
    records: Arc<Mutex<HashMap<Key, Record>>>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Record>> {
        // A panic while holding the lock leaves the map consistent (each write is one insert or
        // remove), so a poisoned lock is safe to keep using.
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn create(
        &self,
        key: Key,
        spec: Value,
        labels: BTreeMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<Record, Error> {
        let mut records = self.lock();
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

    pub(super) fn update(
        &self,
        key: Key,
        spec: Value,
        labels: BTreeMap<String, String>,
        expected_version: u64,
        now: OffsetDateTime,
    ) -> Result<Record, Error> {
        let mut records = self.lock();
        let Some(existing) = records.get_mut(&key) else {
            return Err(Error::NotFound { key });
        };
        if existing.version != expected_version {
            return Err(Error::Conflict {
                key,
                expected: expected_version,
                actual: existing.version,
            });
        }
        existing.version += 1;
        existing.spec = spec;
        existing.labels = labels;
        existing.modification_time = now;
        Ok(existing.clone())
    }

    pub(super) fn delete(&self, key: &Key) -> Result<u64, Error> {
        self.lock()
            .remove(key)
            .map(|r| r.version)
            .ok_or_else(|| Error::NotFound { key: key.clone() })
    }

    /// Removes the Mesh record and every record inside it under one lock. Returns the removed
    /// keys with their last versions, the Mesh first and the rest sorted.
    pub(super) fn delete_mesh(&self, mesh: &str) -> Result<Vec<(Key, u64)>, Error> {
        let mut records = self.lock();
        let mesh_key = Key::global(MESH_KIND, mesh);
        let Some(mesh_record) = records.remove(&mesh_key) else {
            return Err(Error::NotFound { key: mesh_key });
        };
        let mut inside: Vec<(Key, u64)> = records
            .extract_if(|key, _| key.mesh == mesh)
            .map(|(key, record)| (key, record.version))
            .collect();
        inside.sort();
        let mut removed = vec![(mesh_key, mesh_record.version)];
        removed.extend(inside);
        Ok(removed)
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
