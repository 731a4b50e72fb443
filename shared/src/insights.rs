//! The insights Kuma serves (`/global-insight`, `/mesh-insights`, service insights), kept
//! current from the store's change feed instead of scanning the store on every request.
//!
//! [`Insights::start`] reads the records it needs once, then a task follows the change feed:
//! each committed write re-reads only the record it names, a resync reads everything again, and
//! after each burst of events one [`Snapshot`] is computed and published. Requests only read the
//! latest snapshot. What an insight says is computed in `compute`; this module keeps the
//! records and the snapshot and knows nothing of HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;

use kuma_core::resources::ResourceType;
use kuma_core::resources::insight::{DATAPLANE_INSIGHT_KIND, ZONE_INSIGHT_KIND};
use kuma_core::shutdown::Shutdown;
use serde_json::Value;
use store::{Changes, Event, Key, Record, Store};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::api::Role;

mod compute;

pub use compute::Snapshot;

/// The latest snapshot, for the API. Cloning is cheap.
#[derive(Clone)]
pub struct Insights {
    latest: watch::Receiver<Arc<Snapshot>>,
}

/// The task that keeps the snapshot current; run it with [`Feed::run`].
pub struct Feed {
    store: Store,
    changes: Changes,
    records: Records,
    role: Role,
    publish: watch::Sender<Arc<Snapshot>>,
}

/// The records insights are computed from, by key. Secrets are kept without their data: only
/// their number is ever used.
#[derive(Default)]
pub(crate) struct Records(BTreeMap<Key, Record>);

impl Insights {
    /// Reads what the insights need and publishes the first snapshot; the returned [`Feed`] keeps
    /// it current once it runs. The feed is subscribed to before the read, so no write between
    /// the two is missed.
    pub async fn start(store: Store, role: Role) -> Result<(Self, Feed), store::Error> {
        let changes = store.changes();
        let records = Records::load(&store).await?;
        let snapshot = compute::snapshot(&records, role, OffsetDateTime::now_utc());
        let (publish, latest) = watch::channel(Arc::new(snapshot));
        Ok((Self { latest }, Feed { store, changes, records, role, publish }))
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.latest.borrow())
    }

    /// Insights of nothing, for routers that serve none (tests of other endpoints).
    pub fn empty() -> Self {
        let (_publish, latest) = watch::channel(Arc::new(Snapshot::default()));
        Self { latest }
    }
}

impl Feed {
    /// Follows the change feed until `shutdown`: after each burst of events, one new snapshot.
    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), store::Error> {
        loop {
            let event = tokio::select! {
                () = shutdown.wait() => return Ok(()),
                event = self.changes.recv() => event,
            };
            let Some(event) = event else { return Ok(()) };
            self.apply(event).await?;
            // Take everything already queued before computing, so a burst costs one snapshot.
            while let Some(event) = self.changes.try_recv() {
                self.apply(event).await?;
            }
            let snapshot = compute::snapshot(&self.records, self.role, OffsetDateTime::now_utc());
            self.publish.send_replace(Arc::new(snapshot));
        }
    }

    async fn apply(&mut self, event: Event) -> Result<(), store::Error> {
        match event {
            Event::Resync => self.records = Records::load(&self.store).await?,
            Event::Changed(change) if Records::wanted(&change.key.kind) => {
                match self.store.get(&change.key).await {
                    Ok(record) => self.records.insert(record),
                    Err(store::Error::NotFound { .. }) => self.records.remove(&change.key),
                    Err(err) => return Err(err),
                }
            }
            Event::Changed(_) => {}
        }
        Ok(())
    }
}

impl Records {
    /// Every resource type, and the insights of dataplanes and zones.
    fn kinds() -> impl Iterator<Item = &'static str> {
        ResourceType::ALL
            .into_iter()
            .map(ResourceType::name)
            .chain([DATAPLANE_INSIGHT_KIND, ZONE_INSIGHT_KIND])
    }

    fn wanted(kind: &str) -> bool {
        Self::kinds().any(|k| k == kind)
    }

    async fn load(store: &Store) -> Result<Self, store::Error> {
        let mut records = Self::default();
        for kind in Self::kinds() {
            for record in store.list(kind, None).await? {
                records.insert(record);
            }
        }
        Ok(records)
    }

    pub(crate) fn insert(&mut self, mut record: Record) {
        if matches!(ResourceType::from_name(&record.key.kind), Some(t) if t.admin_only()) {
            record.spec = Value::Null;
        }
        self.0.insert(record.key.clone(), record);
    }

    fn remove(&mut self, key: &Key) {
        self.0.remove(key);
    }

    /// The records of `kind`, in key order (mesh, then name).
    pub(crate) fn of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.0.values().filter(move |r| r.key.kind == kind)
    }

    /// The record of `kind` named `name` in `mesh` (`""` beside the meshes).
    pub(crate) fn get(&self, kind: &str, mesh: &str, name: &str) -> Option<&Record> {
        self.0.get(&Key::mesh_scoped(kind, mesh, name))
    }
}

#[cfg(test)]
mod tests;
