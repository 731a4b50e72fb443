//! The current [`MeshView`] of each mesh that has connected proxies, kept up to date from the
//! store's change feed: one view per mesh and store generation, shared by every stream of the
//! mesh through a `watch` channel (which also coalesces bursts: a slow stream only ever sees the
//! latest view). A change re-reads only what it touched: the changed Dataplanes one by one, the
//! policy kind that changed, the Mesh. Views of meshes nobody watches any more are dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use kuma_core::resources::{MeshSpec, ResourceType, Spec, TrafficPermissionSpec};
use kuma_core::shutdown::Shutdown;
use store::{self, Change, ChangeKind, Event, Key, Record, Store};
use tokio::sync::{Mutex, watch};

use super::view::{Dataplane, MeshView, Policy};

/// The views; cloning is cheap.
#[derive(Clone)]
pub struct Views {
    store: Store,
    meshes: Arc<Mutex<HashMap<String, watch::Sender<Arc<MeshView>>>>>,
}

/// What changed in one mesh since its view was built.
#[derive(Debug, Default)]
struct Dirty {
    mesh: bool,
    /// Dataplanes to read again, one by one.
    dataplanes: BTreeSet<String>,
    /// Read every Dataplane again (the mesh was deleted, or changes were missed).
    all: bool,
    traffic_permissions: bool,
    mesh_traffic_permissions: bool,
}

impl Views {
    /// Views over `store`; [`Views::run`] keeps them current.
    pub fn new(store: Store) -> Self {
        Self { store, meshes: Arc::default() }
    }

    /// The view of `mesh`, built now if nobody watched it yet, and its future updates.
    pub async fn subscribe(
        &self,
        mesh: &str,
    ) -> Result<watch::Receiver<Arc<MeshView>>, store::Error> {
        let mut meshes = self.meshes.lock().await;
        if let Some(tx) = meshes.get(mesh) {
            return Ok(tx.subscribe());
        }
        let view = self.full(mesh).await?;
        let (tx, rx) = watch::channel(Arc::new(view));
        meshes.insert(mesh.to_owned(), tx);
        Ok(rx)
    }

    /// Follows the store's changes until `shutdown` fires.
    pub async fn run(self, mut shutdown: Shutdown) {
        let mut changes = self.store.changes();
        loop {
            let first = tokio::select! {
                () = shutdown.wait() => return,
                event = changes.recv() => event,
            };
            let mut dirty: HashMap<String, Dirty> = HashMap::new();
            let mut resync = false;
            let mut next = first;
            loop {
                match next {
                    Some(Event::Changed(change)) => note(&mut dirty, &change),
                    Some(Event::Resync) => {
                        tracing::debug!("the xDS views read every mesh again");
                        resync = true;
                    }
                    None => return,
                }
                // Everything already queued goes into this round.
                match changes.try_recv() {
                    Some(event) => next = Some(event),
                    None => break,
                }
            }
            self.update(dirty, resync).await;
        }
    }

    async fn update(&self, mut dirty: HashMap<String, Dirty>, resync: bool) {
        let mut meshes = self.meshes.lock().await;
        meshes.retain(|_, tx| tx.receiver_count() > 0);
        let names: Vec<String> = meshes.keys().cloned().collect();
        for mesh in names {
            let change = match dirty.remove(&mesh) {
                Some(change) if !resync => change,
                None if !resync => continue,
                _ => Dirty {
                    mesh: true,
                    all: true,
                    traffic_permissions: true,
                    mesh_traffic_permissions: true,
                    ..Dirty::default()
                },
            };
            let Some(tx) = meshes.get(&mesh) else { continue };
            let current = tx.borrow().clone();
            match self.apply(&current, &change).await {
                Ok(view) => {
                    tx.send_replace(Arc::new(view));
                }
                Err(err) => {
                    // The view stays as it was; the next change of the mesh reads everything.
                    tracing::error!(%mesh, error = %err, "could not update the mesh's xDS view");
                }
            }
        }
    }

    /// `current` with the changes of `dirty` read from the store.
    async fn apply(&self, current: &MeshView, dirty: &Dirty) -> Result<MeshView, store::Error> {
        let mesh = current.mesh.as_str();
        let mut view = current.clone();
        if dirty.mesh {
            view = view.with_mesh(&self.mesh_spec(mesh).await?);
        }
        if dirty.all {
            view = view.with_dataplanes(self.dataplanes(mesh).await?);
        } else if !dirty.dataplanes.is_empty() {
            let mut dataplanes = (*view.dataplanes).clone();
            for name in &dirty.dataplanes {
                let key = Key::mesh_scoped(ResourceType::Dataplane.name(), mesh, name);
                match self.store.get(&key).await {
                    Ok(record) => match dataplane(record) {
                        Some(dp) => dataplanes.insert(name.clone(), Arc::new(dp)),
                        None => dataplanes.remove(name),
                    },
                    Err(store::Error::NotFound { .. }) => dataplanes.remove(name),
                    Err(err) => return Err(err),
                };
            }
            view = view.with_dataplanes(dataplanes);
        }
        if dirty.traffic_permissions {
            view = view.with_traffic_permissions(self.traffic_permissions(mesh).await?);
        }
        if dirty.mesh_traffic_permissions {
            view = view.with_mesh_traffic_permissions(self.mesh_traffic_permissions(mesh).await?);
        }
        Ok(view)
    }

    async fn full(&self, mesh: &str) -> Result<MeshView, store::Error> {
        let spec = self.mesh_spec(mesh).await?;
        let dataplanes = self.dataplanes(mesh).await?;
        Ok(MeshView::new(
            mesh,
            &spec,
            dataplanes.into_values(),
            self.traffic_permissions(mesh).await?,
            self.mesh_traffic_permissions(mesh).await?,
        ))
    }

    async fn mesh_spec(&self, mesh: &str) -> Result<MeshSpec, store::Error> {
        let key = Key::global(ResourceType::Mesh.name(), mesh);
        match self.store.get(&key).await {
            Ok(record) => match Spec::from_value(ResourceType::Mesh, record.spec) {
                Ok(Spec::Mesh(spec)) => Ok(spec),
                _ => {
                    tracing::error!(%mesh, "the stored Mesh is not valid; treating it as without mTLS");
                    Ok(MeshSpec::default())
                }
            },
            Err(store::Error::NotFound { .. }) => Ok(MeshSpec::default()),
            Err(err) => Err(err),
        }
    }

    async fn dataplanes(
        &self,
        mesh: &str,
    ) -> Result<BTreeMap<String, Arc<Dataplane>>, store::Error> {
        let records = self.store.list(ResourceType::Dataplane.name(), Some(mesh)).await?;
        Ok(records
            .into_iter()
            .filter_map(dataplane)
            .map(|dp| (dp.name.clone(), Arc::new(dp)))
            .collect())
    }

    async fn traffic_permissions(
        &self,
        mesh: &str,
    ) -> Result<Vec<Policy<TrafficPermissionSpec>>, store::Error> {
        let records = self.store.list(ResourceType::TrafficPermission.name(), Some(mesh)).await?;
        Ok(records
            .into_iter()
            .filter_map(|r| {
                match Spec::from_value(ResourceType::TrafficPermission, r.spec.clone()) {
                    Ok(Spec::TrafficPermission(spec)) => Some(policy(&r, spec)),
                    _ => invalid(&r.key),
                }
            })
            .collect())
    }

    async fn mesh_traffic_permissions(
        &self,
        mesh: &str,
    ) -> Result<Vec<Policy<kuma_core::resources::MeshTrafficPermission>>, store::Error> {
        let kind = ResourceType::MeshTrafficPermission;
        let records = self.store.list(kind.name(), Some(mesh)).await?;
        Ok(records
            .into_iter()
            .filter_map(|r| match Spec::from_value(kind, r.spec.clone()) {
                Ok(Spec::MeshTrafficPermission(spec)) => Some(policy(&r, spec.spec)),
                _ => invalid(&r.key),
            })
            .collect())
    }
}

/// Records a change in the meshes it concerns.
fn note(dirty: &mut HashMap<String, Dirty>, change: &Change) {
    let key = &change.key;
    match key.kind.as_str() {
        "Mesh" => dirty.entry(key.name.clone()).or_default().mesh = true,
        "Dataplane" => {
            dirty.entry(key.mesh.clone()).or_default().dataplanes.insert(key.name.clone());
        }
        "TrafficPermission" => {
            dirty.entry(key.mesh.clone()).or_default().traffic_permissions = true
        }
        "MeshTrafficPermission" => {
            dirty.entry(key.mesh.clone()).or_default().mesh_traffic_permissions = true
        }
        _ => {}
    }
    if change.kind == ChangeKind::Delete && key.kind == "Mesh" {
        let entry = dirty.entry(key.name.clone()).or_default();
        entry.all = true;
        entry.traffic_permissions = true;
        entry.mesh_traffic_permissions = true;
    }
}

fn dataplane(record: Record) -> Option<Dataplane> {
    match Spec::from_value(ResourceType::Dataplane, record.spec) {
        Ok(Spec::Dataplane(spec)) => {
            Some(Dataplane { name: record.key.name, spec, labels: record.labels })
        }
        _ => invalid(&record.key),
    }
}

fn policy<S>(record: &Record, spec: S) -> Policy<S> {
    Policy { name: record.key.name.clone(), created: record.creation_time, spec }
}

fn invalid<T>(key: &Key) -> Option<T> {
    tracing::warn!(%key, "a stored resource is not valid; proxies are configured without it");
    None
}
