//! Several writes in one transaction: [`Store::write_all`]. A KDS peer's response becomes one
//! batch, so applying thousands of resources costs one commit instead of one per resource, and a
//! response is stored whole or not at all.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Backend, Change, Error, Key, Store, now};

/// One write of a batch; each means what the single call of the same name means.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// [`Store::create`]: fails with `AlreadyExists` when the key is taken.
    Create {
        /// Where to store it.
        key: Key,
        /// The spec.
        spec: Value,
        /// The labels.
        labels: BTreeMap<String, String>,
    },
    /// [`Store::update`]: fails with `Conflict` unless the stored version is `expected_version`.
    Update {
        /// The record to replace.
        key: Key,
        /// The new spec.
        spec: Value,
        /// The new labels.
        labels: BTreeMap<String, String>,
        /// The version the caller read.
        expected_version: u64,
    },
    /// [`Store::delete`]: fails with `NotFound` when there is no such record.
    Delete {
        /// The record to remove.
        key: Key,
    },
    /// [`Store::delete_mesh`]: the Mesh record and everything inside the mesh.
    DeleteMesh {
        /// The mesh's name.
        name: String,
    },
}

impl Store {
    /// Performs `writes` in order as one transaction: either all of them happen, or, when one
    /// fails, none does and the error is that write's, naming its record as the single call
    /// would. Returns the changes in the order they happened (a `DeleteMesh` gives one per
    /// removed record) and broadcasts them after the commit; a failed batch broadcasts nothing.
    pub async fn write_all(&self, writes: Vec<Write>) -> Result<Vec<Change>, Error> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let now = now();
        let changes = match &self.backend {
            Backend::Memory(m) => m.write_all(writes, now)?,
            Backend::Sqlite(s) => s.write_all(writes, now).await?,
            Backend::Postgres(s) => s.write_all(writes, now).await?,
        };
        for change in &changes {
            self.notify(change.kind, change.key.clone(), change.version);
        }
        Ok(changes)
    }
}
