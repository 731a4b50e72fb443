//! Values derived from records, kept until a write of the kinds they were read from: "rebuild
//! this value when these kinds change".
//!
//! A [`Derived`] holds one value per key with the [`Store::generation`]s of its source kinds at
//! the time it was built. A lookup compares them with the current ones (a write bumps them before
//! its call returns, a resync bumps them all), so a stale value is never served after the write
//! that made it stale has returned. Concurrent lookups of one key wait for a single build and
//! share it. What a value is and how it is built is the caller's; this module only remembers.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use kuma_core::resources::ResourceType;

use crate::Store;

/// A cache of values derived from the store's records; cheap to clone, clones share the values.
pub struct Derived<K, V> {
    store: Store,
    slots: Arc<Mutex<HashMap<K, Arc<Slot<V>>>>>,
}

/// One key's value; the lock is held across a build, so concurrent lookups wait for it.
struct Slot<V>(tokio::sync::Mutex<Option<Entry<V>>>);

struct Entry<V> {
    generations: Vec<u64>,
    value: Arc<V>,
}

impl<K, V> Derived<K, V>
where
    K: Eq + Hash + Clone,
{
    /// An empty cache over `store`'s generations.
    pub fn new(store: Store) -> Self {
        Self { store, slots: Arc::default() }
    }

    /// The store the values are derived from, for builds to read.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The value of `key`, built from the records of `sources`: the one built before when no
    /// record of those kinds was written since and `reuse` accepts it, else a new one from
    /// `build` (kept for the next lookup unless the build fails).
    pub async fn get<E, F, Fut>(
        &self,
        key: &K,
        sources: &[ResourceType],
        reuse: impl FnOnce(&V) -> bool,
        build: F,
    ) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let slot = {
            // Each use is one lookup or insert, which cannot leave the map half-written.
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.entry(key.clone()).or_insert_with(|| Arc::new(Slot::default())))
        };
        let mut slot = slot.0.lock().await;
        // Read before building: a write landing during the build makes the value look older
        // than it is (built again next time), never newer.
        let generations: Vec<u64> = sources.iter().map(|k| self.store.generation(*k)).collect();
        if let Some(entry) = slot.as_ref()
            && entry.generations == generations
            && reuse(&entry.value)
        {
            return Ok(Arc::clone(&entry.value));
        }
        let value = Arc::new(build().await?);
        *slot = Some(Entry { generations, value: Arc::clone(&value) });
        Ok(value)
    }
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Self(tokio::sync::Mutex::new(None))
    }
}

impl<K, V> Clone for Derived<K, V> {
    fn clone(&self) -> Self {
        Self { store: self.store.clone(), slots: Arc::clone(&self.slots) }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;
    use crate::Key;

    async fn write(store: &Store, kind: ResourceType, name: &str) {
        let key = Key::resource(kind, "default", name);
        store.create(key, json!({}), BTreeMap::new()).await.unwrap();
    }

    #[tokio::test]
    async fn a_value_is_kept_until_a_write_of_a_source_kind_or_a_resync() {
        let store = Store::memory();
        let cache: Derived<&str, usize> = Derived::new(store.clone());
        let builds = AtomicUsize::new(0);
        let get = || {
            cache.get(
                &"k",
                &[ResourceType::Secret, ResourceType::Mesh],
                |_| true,
                || async { Ok::<_, Infallible>(builds.fetch_add(1, Ordering::SeqCst) + 1) },
            )
        };
        assert_eq!(*get().await.unwrap(), 1);
        assert_eq!(*get().await.unwrap(), 1, "nothing written");
        write(&store, ResourceType::Dataplane, "dp").await;
        assert_eq!(*get().await.unwrap(), 1, "a kind it is not built from");
        write(&store, ResourceType::Mesh, "m").await;
        assert_eq!(*get().await.unwrap(), 2, "a source kind");
        store.resync();
        assert_eq!(*get().await.unwrap(), 3, "a resync");
        assert_eq!(*get().await.unwrap(), 3);
    }

    #[tokio::test]
    async fn reuse_can_refuse_a_value_and_a_failed_build_keeps_nothing() {
        let store = Store::memory();
        let cache: Derived<u8, &str> = Derived::new(store);
        let first = cache.get(&1, &[], |_| true, || async { Ok::<_, ()>("a") }).await;
        assert_eq!(*first.unwrap(), "a");
        let refused = cache.get(&1, &[], |v| *v != "a", || async { Ok::<_, ()>("b") }).await;
        assert_eq!(*refused.unwrap(), "b");
        let other = cache.get(&2, &[], |_| true, || async { Err::<&str, _>(()) }).await;
        assert!(other.is_err());
        let built = cache.get(&2, &[], |_| true, || async { Ok::<_, ()>("c") }).await;
        assert_eq!(*built.unwrap(), "c", "the failed build left nothing behind");
    }
}
