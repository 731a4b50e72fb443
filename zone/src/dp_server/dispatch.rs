//! One subscription to the store's changes for the whole DP server. Sessions register what they
//! depend on (their mesh and Dataplane; a zone ingress depends on secrets only) and are woken
//! only by the changes that concern them: a Secret of their mesh or any GlobalSecret (token keys
//! and revocations), their own Dataplane, their Mesh. Every other write, most of all the
//! DataplaneInsight each session writes, wakes nobody. Before this, each session subscribed to
//! the broadcast itself, so every write woke every session: O(N²) wake-ups in a reconnect storm.
//!
//! Wake-ups never block the dispatcher: a session's pending reasons are bits that accumulate
//! until it looks at them, so a slow session costs nothing but a bit set twice. On a resync of the
//! change feed (the dispatcher fell behind, or the store asks for one), every session is told to
//! recheck everything. This module decides nothing about what a session does then.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kuma_core::resources::ResourceType;
use kuma_core::shutdown::Shutdown;
use store::{Change, ChangeKind, Event, Store};
use tokio::sync::Notify;

/// The token must be checked again (its keys or revocations may have changed).
const TOKEN: u8 = 1;
/// The session's Dataplane was written.
const DATAPLANE: u8 = 2;
/// The session's Mesh was written (mTLS settings).
const MESH: u8 = 4;
const ALL: u8 = TOKEN | DATAPLANE | MESH;

/// The registry of sessions, shared by the dispatcher task and every session. Cloning is cheap.
#[derive(Clone, Default)]
pub(super) struct Dispatcher {
    inner: Arc<Mutex<Registry>>,
}

/// What a session learns when it is woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reasons(u8);

/// A session's registration; dropping it unregisters the session.
pub(super) struct Watch {
    id: u64,
    signal: Arc<Signal>,
    dispatcher: Dispatcher,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    sessions: HashMap<u64, Entry>,
    /// Data plane proxy sessions per mesh.
    by_mesh: HashMap<String, HashSet<u64>>,
    /// Data plane proxy sessions per (mesh, Dataplane name); a proxy may briefly have two.
    by_dataplane: HashMap<(String, String), HashSet<u64>>,
    /// Zone ingress sessions: they depend on every Secret and GlobalSecret.
    ingresses: HashSet<u64>,
}

struct Entry {
    /// `None` for a zone ingress.
    dataplane: Option<(String, String)>,
    signal: Arc<Signal>,
}

#[derive(Default)]
struct Signal {
    pending: AtomicU8,
    notify: Notify,
}

impl Dispatcher {
    /// Forwards the store's changes to the registered sessions until `shutdown` fires.
    pub(super) async fn run(self, store: Store, mut shutdown: Shutdown) {
        let mut changes = store.changes();
        loop {
            tokio::select! {
                () = shutdown.wait() => return,
                event = changes.recv() => match event {
                    Some(Event::Changed(change)) => self.dispatch(&change),
                    Some(Event::Resync) => self.wake_all(ALL),
                    None => return,
                },
            }
        }
    }

    /// Registers a data plane proxy's session for its mesh and Dataplane.
    pub(super) fn watch_dataplane(&self, mesh: &str, name: &str) -> Watch {
        let key = (mesh.to_owned(), name.to_owned());
        let mut registry = self.registry();
        let id = registry.insert(Some(key.clone()));
        registry.by_mesh.entry(key.0.clone()).or_default().insert(id);
        registry.by_dataplane.entry(key).or_default().insert(id);
        self.watch(&registry, id)
    }

    /// Registers a zone ingress's session, which depends on secrets only.
    pub(super) fn watch_ingress(&self) -> Watch {
        let mut registry = self.registry();
        let id = registry.insert(None);
        registry.ingresses.insert(id);
        self.watch(&registry, id)
    }

    fn watch(&self, registry: &Registry, id: u64) -> Watch {
        let signal = registry.sessions[&id].signal.clone();
        Watch { id, signal, dispatcher: self.clone() }
    }

    fn dispatch(&self, change: &Change) {
        let registry = self.registry();
        let key = &change.key;
        match change.resource_type() {
            Some(ResourceType::GlobalSecret) => {
                registry.sessions.values().for_each(|e| e.signal.raise(TOKEN));
            }
            Some(ResourceType::Secret) => {
                let in_mesh = registry.by_mesh.get(&key.mesh).into_iter().flatten();
                registry.raise(in_mesh.chain(&registry.ingresses), TOKEN);
            }
            Some(ResourceType::Dataplane) if change.kind != ChangeKind::Delete => {
                let dp = (key.mesh.clone(), key.name.clone());
                registry.raise(registry.by_dataplane.get(&dp).into_iter().flatten(), DATAPLANE);
            }
            Some(ResourceType::Mesh) => {
                registry.raise(registry.by_mesh.get(&key.name).into_iter().flatten(), MESH);
            }
            _ => {}
        }
    }

    fn wake_all(&self, reasons: u8) {
        self.registry().sessions.values().for_each(|e| e.signal.raise(reasons));
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Every update of the registry is a few inserts or removes that cannot panic halfway.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Registry {
    fn insert(&mut self, dataplane: Option<(String, String)>) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.sessions.insert(id, Entry { dataplane, signal: Arc::default() });
        id
    }

    fn raise<'a>(&self, ids: impl Iterator<Item = &'a u64>, reasons: u8) {
        for id in ids {
            if let Some(entry) = self.sessions.get(id) {
                entry.signal.raise(reasons);
            }
        }
    }

    fn remove(&mut self, id: u64) {
        let Some(entry) = self.sessions.remove(&id) else {
            return;
        };
        self.ingresses.remove(&id);
        let Some(key) = entry.dataplane else {
            return;
        };
        if let Some(ids) = self.by_mesh.get_mut(&key.0) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_mesh.remove(&key.0);
            }
        }
        if let Some(ids) = self.by_dataplane.get_mut(&key) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_dataplane.remove(&key);
            }
        }
    }
}

impl Signal {
    fn raise(&self, reasons: u8) {
        self.pending.fetch_or(reasons, Ordering::AcqRel);
        // Stores a permit when the session is busy, so the next wait returns at once.
        self.notify.notify_one();
    }
}

impl Watch {
    /// Waits until a change concerns this session and returns why (all reasons raised since the
    /// last call).
    pub(super) async fn changed(&self) -> Reasons {
        loop {
            let reasons = self.signal.pending.swap(0, Ordering::AcqRel);
            if reasons != 0 {
                return Reasons(reasons);
            }
            self.signal.notify.notified().await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.dispatcher.registry().remove(self.id);
    }
}

impl Reasons {
    /// The token's keys or revocations may have changed.
    pub(super) fn token(self) -> bool {
        self.0 & TOKEN != 0
    }

    /// The session's Dataplane was written.
    pub(super) fn dataplane(self) -> bool {
        self.0 & DATAPLANE != 0
    }

    /// The session's Mesh was written.
    pub(super) fn mesh(self) -> bool {
        self.0 & MESH != 0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use store::Key;

    use super::*;

    fn change(kind: ChangeKind, key: Key) -> Change {
        Change { kind, key, version: 1 }
    }

    async fn woken(watch: &Watch) -> Option<Reasons> {
        tokio::time::timeout(Duration::from_millis(50), watch.changed()).await.ok()
    }

    #[tokio::test]
    async fn only_the_sessions_concerned_are_woken() {
        let dispatcher = Dispatcher::default();
        let web = dispatcher.watch_dataplane("default", "web");
        let db = dispatcher.watch_dataplane("default", "db");
        let other = dispatcher.watch_dataplane("other", "web");
        let ingress = dispatcher.watch_ingress();

        let insight = Key::mesh_scoped("DataplaneInsight", "default", "web");
        dispatcher.dispatch(&change(ChangeKind::Update, insight));
        let dp = Key::mesh_scoped("Dataplane", "default", "web");
        dispatcher.dispatch(&change(ChangeKind::Update, dp.clone()));
        assert_eq!(woken(&web).await, Some(Reasons(DATAPLANE)));
        assert_eq!(woken(&db).await, None);
        assert_eq!(woken(&other).await, None);
        assert_eq!(woken(&ingress).await, None);

        dispatcher.dispatch(&change(ChangeKind::Delete, dp));
        assert_eq!(woken(&web).await, None, "a deleted Dataplane keeps the session as it is");

        let secret = Key::mesh_scoped("Secret", "default", "dataplane-token-signing-key-default-2");
        dispatcher.dispatch(&change(ChangeKind::Create, secret));
        dispatcher.dispatch(&change(ChangeKind::Update, Key::global("Mesh", "default")));
        assert_eq!(woken(&web).await, Some(Reasons(TOKEN | MESH)), "reasons accumulate");
        assert_eq!(woken(&db).await, Some(Reasons(TOKEN | MESH)));
        assert_eq!(woken(&other).await, None);
        assert_eq!(woken(&ingress).await, Some(Reasons(TOKEN)));

        let revocations = Key::global("GlobalSecret", "dataplane-token-revocations-other");
        dispatcher.dispatch(&change(ChangeKind::Update, revocations));
        for watch in [&web, &db, &other, &ingress] {
            assert_eq!(woken(watch).await, Some(Reasons(TOKEN)));
        }
    }

    #[tokio::test]
    async fn a_dropped_watch_leaves_no_trace() {
        let dispatcher = Dispatcher::default();
        let first = dispatcher.watch_dataplane("default", "web");
        let second = dispatcher.watch_dataplane("default", "web");
        drop(first);
        let dp = Key::mesh_scoped("Dataplane", "default", "web");
        dispatcher.dispatch(&change(ChangeKind::Update, dp));
        assert_eq!(woken(&second).await, Some(Reasons(DATAPLANE)));
        drop(second);
        drop(dispatcher.watch_ingress());
        let registry = dispatcher.registry();
        assert!(registry.sessions.is_empty() && registry.ingresses.is_empty());
        assert!(registry.by_mesh.is_empty() && registry.by_dataplane.is_empty());
    }

    #[tokio::test]
    async fn falling_behind_wakes_everyone_for_everything() {
        let store = Store::memory();
        let dispatcher = Dispatcher::default();
        let web = dispatcher.watch_dataplane("default", "web");
        let (trigger, shutdown) = kuma_core::shutdown::channel();
        // Fill the broadcast past its capacity before the dispatcher reads anything.
        let task = tokio::spawn(dispatcher.clone().run(store.clone(), shutdown));
        tokio::task::yield_now().await;
        let key = Key::mesh_scoped("DataplaneInsight", "default", "web");
        store.create(key.clone(), serde_json::json!({}), Default::default()).await.unwrap();
        for version in 1..2_000 {
            store
                .update(key.clone(), serde_json::json!({}), Default::default(), version)
                .await
                .unwrap();
        }
        assert_eq!(woken(&web).await, Some(Reasons(ALL)));
        trigger.fire();
        task.await.unwrap();
    }
}
