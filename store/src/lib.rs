//! Persistence of resources as opaque records, in memory, SQLite or PostgreSQL: the only crate
//! that uses sqlx.
//!
//! The store keeps `(kind, mesh, name)` keyed records with a JSON spec, labels, a version for
//! optimistic concurrency and creation/modification times. It does not know what a spec means or
//! how it is validated (`kuma_core::resources` does); it knows the kinds by their
//! `ResourceType`, so that the change feed ([`Store::changes`]) and the write generations
//! ([`Store::generation`]) are typed. Records that are not resources (insights, the cluster id)
//! are stored under their own kind name and never reach a consumer by kind. Every committed write
//! goes out on the feed, so components react to writes instead of polling, and [`Derived`] keeps
//! values computed from records until a write of the kinds they were read from.
#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kuma_core::resources::{ResourceType, Scope};
use serde_json::Value;
use sqlx::{Postgres, Sqlite};
use time::{Duration, OffsetDateTime};
use tokio::sync::broadcast;

mod batch;
mod changes;
mod config;
mod derived;
mod memory;
mod postgres;
mod sql;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use batch::Write;
pub use changes::{Changes, Event};
pub use config::{ClientCert, PostgresConfig, PostgresTls, PostgresTlsMode, StoreConfig};
pub use derived::Derived;

/// How many events a slow subscriber may fall behind before it gets a resync instead.
const CHANGE_BUFFER: usize = 1024;
/// The kind whose records own meshes; see [`Store::delete_mesh`].
const MESH_KIND: &str = ResourceType::Mesh.name();

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

/// A write that happened, sent on the change feed after it committed.
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
    #[error(
        "resource {key} was modified concurrently (expected version {expected}, found {actual})"
    )]
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
    /// The PostgreSQL server could not be reached, refused the login or failed the TLS handshake.
    #[error("could not connect to postgres at {host}:{port}")]
    Connect {
        /// The configured host.
        host: String,
        /// The configured port.
        port: u16,
        /// What went wrong.
        #[source]
        source: sqlx::Error,
    },
    /// The SQLite database file could not be created or opened.
    #[error("could not open sqlite database {}", path.display())]
    Open {
        /// The configured file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The schema could not be brought up to date.
    #[error("could not migrate the {backend} schema")]
    Migrate {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// What went wrong.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// The PostgreSQL TLS settings cannot work; the text after the colon is Kuma's.
    #[error("TLS validation failed: {reason}")]
    InvalidTls {
        /// What is wrong, for example `CAPath cannot be empty`.
        reason: &'static str,
    },
}

/// The handle every component shares. Cloning is cheap.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    changes: broadcast::Sender<Event>,
    generations: Arc<Mutex<Generations>>,
}

/// Write counters: one per kind name, and one for resyncs that counts for every kind.
#[derive(Default)]
struct Generations {
    per_kind: HashMap<String, u64>,
    resyncs: u64,
}

#[derive(Clone)]
enum Backend {
    Memory(memory::MemoryStore),
    Sqlite(sql::SqlStore<Sqlite>),
    Postgres(sql::SqlStore<Postgres>),
}

impl Store {
    /// Opens the configured backend and brings its schema up to date.
    pub async fn connect(config: &StoreConfig) -> Result<Self, Error> {
        let backend = match config {
            StoreConfig::Memory => Backend::Memory(memory::MemoryStore::default()),
            StoreConfig::Sqlite { path } => Backend::Sqlite(sqlite::open(path).await?),
            StoreConfig::Postgres(postgres) => Backend::Postgres(postgres::open(postgres).await?),
        };
        Ok(Self::with_backend(backend))
    }

    /// A fresh in-memory store.
    pub fn memory() -> Self {
        Self::with_backend(Backend::Memory(memory::MemoryStore::default()))
    }

    fn with_backend(backend: Backend) -> Self {
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        Self { backend, changes, generations: Arc::default() }
    }

    /// A counter that grows with every committed write of `kind` made through this handle (or
    /// its clones), and with every resync. Caches derived from records of a kind compare it to
    /// know they are stale, synchronously: a write has bumped it before the write's call returns.
    pub fn generation(&self, kind: ResourceType) -> u64 {
        let generations = self.generations();
        let writes = generations.per_kind.get(kind.name()).copied().unwrap_or(0);
        writes + generations.resyncs
    }

    fn generations(&self) -> std::sync::MutexGuard<'_, Generations> {
        // The map holds plain counters; a panic cannot leave it inconsistent.
        self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Which backend this is, for logs: `memory`, `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the database connections and waits until they are gone. Later calls fail with
    /// `Backend`; the memory backend keeps working.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Memory(_) => {}
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(s) => s.close().await,
        }
    }

    /// Stores a new record at version 1. Fails with `AlreadyExists` if the key is taken.
    pub async fn create(
        &self,
        key: Key,
        spec: Value,
        labels: BTreeMap<String, String>,
    ) -> Result<Record, Error> {
        let now = now();
        let record = match &self.backend {
            Backend::Memory(m) => m.create(key, spec, labels, now)?,
            Backend::Sqlite(s) => s.create(key, spec, labels, now).await?,
            Backend::Postgres(s) => s.create(key, spec, labels, now).await?,
        };
        self.notify(ChangeKind::Create, record.key.clone(), record.version);
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
        let now = now();
        let record = match &self.backend {
            Backend::Memory(m) => m.update(key, spec, labels, expected_version, now)?,
            Backend::Sqlite(s) => s.update(key, spec, labels, expected_version, now).await?,
            Backend::Postgres(s) => s.update(key, spec, labels, expected_version, now).await?,
        };
        self.notify(ChangeKind::Update, record.key.clone(), record.version);
        Ok(record)
    }

    /// Removes one record.
    pub async fn delete(&self, key: &Key) -> Result<(), Error> {
        let version = match &self.backend {
            Backend::Memory(m) => m.delete(key)?,
            Backend::Sqlite(s) => s.delete(key).await?,
            Backend::Postgres(s) => s.delete(key).await?,
        };
        self.notify(ChangeKind::Delete, key.clone(), version);
        Ok(())
    }

    /// Removes the `Mesh` record named `mesh` and every record inside that mesh, all or nothing.
    /// Returns the removed keys, the Mesh first, and broadcasts a `Delete` for each. Fails with
    /// `NotFound` (and removes nothing) when there is no such Mesh.
    pub async fn delete_mesh(&self, mesh: &str) -> Result<Vec<Key>, Error> {
        let removed = match &self.backend {
            Backend::Memory(m) => m.delete_mesh(mesh)?,
            Backend::Sqlite(s) => s.delete_mesh(mesh).await?,
            Backend::Postgres(s) => s.delete_mesh(mesh).await?,
        };
        Ok(removed
            .into_iter()
            .map(|(key, version)| {
                self.notify(ChangeKind::Delete, key.clone(), version);
                key
            })
            .collect())
    }

    /// Reads one record.
    pub async fn get(&self, key: &Key) -> Result<Record, Error> {
        match &self.backend {
            Backend::Memory(m) => m.get(key),
            Backend::Sqlite(s) => s.get(key).await,
            Backend::Postgres(s) => s.get(key).await,
        }
    }

    /// Lists the records of a kind, in one mesh or in all, sorted by mesh then name.
    pub async fn list(&self, kind: &str, mesh: Option<&str>) -> Result<Vec<Record>, Error> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.list(kind, mesh)),
            Backend::Sqlite(s) => s.list(kind, mesh).await,
            Backend::Postgres(s) => s.list(kind, mesh).await,
        }
    }

    /// Read-modify-write of one record whose spec is a `T` (created from `T::default()` when
    /// missing, also when the stored spec no longer parses), retried up to `attempts` times when
    /// another writer got in between. For records one component owns and several tasks touch,
    /// such as insights.
    pub async fn upsert_with<T>(
        &self,
        key: Key,
        attempts: usize,
        change: impl Fn(&mut T),
    ) -> Result<(), Error>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Default,
    {
        let mut last_conflict = None;
        for _ in 0..attempts {
            let current = match self.get(&key).await {
                Ok(record) => Some(record),
                Err(Error::NotFound { .. }) => None,
                Err(err) => return Err(err),
            };
            let mut value: T = current
                .as_ref()
                .and_then(|r| serde_json::from_value(r.spec.clone()).ok())
                .unwrap_or_default();
            change(&mut value);
            let spec = serde_json::to_value(&value).unwrap_or_default();
            let result = match current {
                None => self.create(key.clone(), spec, BTreeMap::new()).await,
                Some(record) => {
                    self.update(key.clone(), spec, BTreeMap::new(), record.version).await
                }
            };
            match result {
                Ok(_) => return Ok(()),
                Err(err @ (Error::Conflict { .. } | Error::AlreadyExists { .. })) => {
                    last_conflict = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last_conflict.unwrap_or(Error::NotFound { key }))
    }

    /// The change feed from now on: every committed write, and resyncs.
    pub fn changes(&self) -> Changes {
        Changes::new(self.changes.subscribe())
    }

    /// Tells every consumer to recheck everything ([`Event::Resync`]) and moves every kind's
    /// generation on, for when writes may have happened that the feed did not carry.
    pub fn resync(&self) {
        self.generations().resyncs += 1;
        // No subscriber is not an error: nobody needs to hear about it yet.
        let _ = self.changes.send(Event::Resync);
    }

    fn notify(&self, kind: ChangeKind, key: Key, version: u64) {
        *self.generations().per_kind.entry(key.kind.clone()).or_insert(0) += 1;
        // No subscriber is not an error: nobody needs to hear about it yet.
        let _ = self.changes.send(Event::Changed(Change { kind, key, version }));
    }
}

/// The current time at the SQL backends' precision (microseconds), so that every backend
/// returns the same times from a write as from a later read.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now - Duration::nanoseconds(i64::from(now.nanosecond() % 1_000))
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

impl Change {
    /// The resource type written; `None` for records that are not resources (insights, the
    /// cluster id).
    pub fn resource_type(&self) -> Option<ResourceType> {
        ResourceType::from_name(&self.key.kind)
    }
}

impl Key {
    /// The key of resource `name` of type `kind`: in `mesh` when the type is mesh-scoped, beside
    /// the meshes otherwise (`mesh` is then ignored).
    pub fn resource(kind: ResourceType, mesh: &str, name: &str) -> Self {
        match kind.scope() {
            Scope::Mesh => Self::mesh_scoped(kind.name(), mesh, name),
            Scope::Global => Self::global(kind.name(), name),
        }
    }

    /// A key for a mesh-scoped record.
    pub fn mesh_scoped(kind: &str, mesh: &str, name: &str) -> Self {
        Self { kind: kind.to_owned(), mesh: mesh.to_owned(), name: name.to_owned() }
    }

    /// A key for a global-scoped record.
    pub fn global(kind: &str, name: &str) -> Self {
        Self { kind: kind.to_owned(), mesh: String::new(), name: name.to_owned() }
    }
}
