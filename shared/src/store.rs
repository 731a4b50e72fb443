//! Persistence of resources as opaque records.
//!
//! The store keeps `(kind, mesh, name)` keyed records with a JSON spec, labels, a version for
//! optimistic concurrency and creation/modification times. It does not know what a kind means or
//! how a spec is validated: `resources` does. Every successful write is broadcast as a [`Change`]
//! so later components (KDS) react to writes instead of polling.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::broadcast;

mod config;
mod memory;

pub use config::{ClientCert, PostgresConfig, PostgresTls, PostgresTlsMode, StoreConfig};

/// How many changes a slow subscriber may fall behind before it sees `Lagged`.
const CHANGE_BUFFER: usize = 1024;

/// Identifies one record. `mesh` is empty for global-scoped kinds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Resource type name, for example `Mesh` or `Dataplane`.
    pub kind: String,
    /// Mesh name, or `""` for global-scoped kinds.
    pub mesh: String,
    /// Resource name.
    pub name: String,
}

/// One stored resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Where it is stored.
    pub key: Key,
    /// Starts at 1 and grows by one with each update.
    pub version: u64,
    /// The spec, as given by `resources`.
    pub spec: Value,
    /// Labels, sorted.
    pub labels: BTreeMap<String, String>,
    /// When the record was created.
    pub creation_time: OffsetDateTime,
    /// When the record was last written.
    pub modification_time: OffsetDateTime,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new record.
    Create,
    /// A new version of an existing record.
    Update,
    /// The record is gone.
    Delete,
}

/// A write that happened, broadcast to subscribers after it committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What the write did.
    pub kind: ChangeKind,
    /// Which record it touched.
    pub key: Key,
    /// The version after the write (the last version for a delete).
    pub version: u64,
}

/// Store failures. Constraint violations are typed so callers never match on message text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No record under this key.
    #[error("resource not found: {key}")]
    NotFound {
        /// The missing key.
        key: Key,
    },
    /// A record already exists under this key.
    #[error("resource already exists: {key}")]
    AlreadyExists {
        /// The taken key.
        key: Key,
    },
    /// The caller's version is not the stored one: someone else wrote in between.
    #[error("resource {key} was modified concurrently (expected version {expected}, found {actual})")]
    Conflict {
        /// The contested key.
        key: Key,
        /// The version the caller read.
        expected: u64,
        /// The version stored now.
        actual: u64,
    },
    /// The database failed or refused the request.
    #[error("store backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The handle every component shares. Cloning is cheap.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    changes: broadcast::Sender<Change>,
}

#[derive(Clone)]
enum Backend {
    Memory(memory::MemoryStore),
}

impl Store {
    /// Opens the configured backend and brings its schema up to date.
    pub async fn connect(config: &StoreConfig) -> Result<Self, Error> {
        let backend = match config {
            StoreConfig::Memory => Backend::Memory(memory::MemoryStore::default()),
            StoreConfig::Sqlite { .. } | StoreConfig::Postgres(_) => {
                return Err(Error::Backend("backend not built yet".into()));
            }
        };
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        Ok(Self { backend, changes })
    }

    /// A fresh in-memory store.
    pub fn memory() -> Self {
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        Self { backend: Backend::Memory(memory::MemoryStore::default()), changes }
    }

    /// Which backend this is, for logs: `memory`, `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Memory(_) => "memory",
        }
    }

    /// Stores a new record at version 1. Fails with `AlreadyExists` if the key is taken.
    pub async fn create(
        &self,
        key: Key,
        spec: Value,
        labels: BTreeMap<String, String>,
    ) -> Result<Record, Error> {
        let now = OffsetDateTime::now_utc();
        let record = match &self.backend {
            Backend::Memory(m) => m.create(key, spec, labels, now)?,
        };
        self.notify(ChangeKind::Create, &record);
        Ok(record)
    }

    /// Replaces a record's spec and labels if its stored version is still `expected_version`.
    pub async fn update(
        &self,
        key: Key,
        spec: Value,
        labels: BTreeMap<String, String>,
        expected_version: u64,
    ) -> Result<Record, Error> {
        let now = OffsetDateTime::now_utc();
        let record = match &self.backend {
            Backend::Memory(m) => m.update(key, spec, labels, expected_version, now)?,
        };
        self.notify(ChangeKind::Update, &record);
        Ok(record)
    }

    /// Removes one record.
    pub async fn delete(&self, key: &Key) -> Result<(), Error> {
        let version = match &self.backend {
            Backend::Memory(m) => m.delete(key)?,
        };
        let _ = self.changes.send(Change { kind: ChangeKind::Delete, key: key.clone(), version });
        Ok(())
    }

    /// Reads one record.
    pub async fn get(&self, key: &Key) -> Result<Record, Error> {
        match &self.backend {
            Backend::Memory(m) => m.get(key),
        }
    }

    /// Lists the records of a kind, in one mesh or in all, sorted by mesh then name.
    pub async fn list(&self, kind: &str, mesh: Option<&str>) -> Result<Vec<Record>, Error> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.list(kind, mesh)),
        }
    }

    /// Receives every committed change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    fn notify(&self, kind: ChangeKind, record: &Record) {
        // No subscriber is not an error: nobody needs to hear about it yet.
        let _ = self.changes.send(Change { kind, key: record.key.clone(), version: record.version });
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mesh.is_empty() {
            write!(f, "type={:?} name={:?}", self.kind, self.name)
        } else {
            write!(f, "type={:?} name={:?} mesh={:?}", self.kind, self.name, self.mesh)
        }
    }
}

impl Key {
    /// A key for a mesh-scoped record.
    pub fn mesh_scoped(kind: &str, mesh: &str, name: &str) -> Self {
        Self { kind: kind.to_owned(), mesh: mesh.to_owned(), name: name.to_owned() }
    }

    /// A key for a global-scoped record.
    pub fn global(kind: &str, name: &str) -> Self {
        Self { kind: kind.to_owned(), mesh: String::new(), name: name.to_owned() }
    }
}
