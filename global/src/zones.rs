//! The zones registry the global keeps: a `Zone` per zone name (created on first connect) and a
//! `ZoneInsight` record with the zone's KDS subscriptions, so operators see which zones are
//! online, since when, from which instance, and how they authenticated; and the REST routes that
//! show it ([`api`]), which only the global serves.
//!
//! Insights are plain store records (kind `ZoneInsight`, Kuma's JSON shape); they are written by
//! the KDS server and read by the API. Nothing here talks to a zone.

use std::collections::BTreeMap;

use kuma_core::resources::ResourceType;
use serde_json::json;
use store::{self, Key, Store};
use time::OffsetDateTime;

pub(crate) mod api;

pub(crate) use kuma_core::resources::insight::{
    HealthCheck, Subscription, ZONE_INSIGHT_KIND, ZoneInsight, rfc3339,
};

/// How many subscriptions an insight keeps (Kuma's `KUMA_METRICS_ZONE_SUBSCRIPTION_LIMIT`).
const SUBSCRIPTION_LIMIT: usize = 10;
/// Attempts at a contended insight update before giving up on that one write.
const RETRIES: usize = 5;

/// Creates the `Zone` named `zone` (enabled) when it does not exist yet; Kuma does so on a
/// zone's first connection.
pub(crate) async fn ensure_zone(store: &Store, zone: &str) -> Result<(), store::Error> {
    let key = Key::resource(ResourceType::Zone, "", zone);
    match store.create(key, json!({ "enabled": true }), BTreeMap::new()).await {
        Ok(_) | Err(store::Error::AlreadyExists { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Records a new connection of `zone`.
pub(crate) async fn connected(
    store: &Store,
    zone: &str,
    subscription: Subscription,
) -> Result<(), store::Error> {
    update(store, zone, |insight| {
        // A previous connection of this zone that never said goodbye (the global restarted)
        // is over now.
        let now = rfc3339(OffsetDateTime::now_utc());
        for old in insight.subscriptions.iter_mut().filter(|s| s.disconnect_time.is_none()) {
            old.disconnect_time = Some(now.clone());
        }
        insight.subscriptions.push(subscription.clone());
        let excess = insight.subscriptions.len().saturating_sub(SUBSCRIPTION_LIMIT);
        insight.subscriptions.drain(..excess);
    })
    .await
}

/// Records the end of connection `id` of `zone`.
pub(crate) async fn disconnected(store: &Store, zone: &str, id: &str) -> Result<(), store::Error> {
    let now = rfc3339(OffsetDateTime::now_utc());
    update(store, zone, |insight| {
        if let Some(sub) = insight.subscriptions.iter_mut().find(|s| s.id == id) {
            sub.disconnect_time.get_or_insert_with(|| now.clone());
        }
    })
    .await
}

/// Records a health check ping of `zone`.
pub(crate) async fn health_checked(
    store: &Store,
    zone: &str,
    now: OffsetDateTime,
) -> Result<(), store::Error> {
    update(store, zone, |insight| insight.health_check = Some(HealthCheck { time: rfc3339(now) }))
        .await
}

/// The insight of `zone`, if it ever connected.
#[cfg(test)]
async fn insight(store: &Store, zone: &str) -> Result<Option<ZoneInsight>, store::Error> {
    match store.get(&Key::global(ZONE_INSIGHT_KIND, zone)).await {
        Ok(record) => Ok(serde_json::from_value(record.spec).ok()),
        Err(store::Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Read-modify-write of one insight with optimistic concurrency.
async fn update(
    store: &Store,
    zone: &str,
    change: impl Fn(&mut ZoneInsight),
) -> Result<(), store::Error> {
    store.upsert_with(Key::global(ZONE_INSIGHT_KIND, zone), RETRIES, change).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: &str) -> Subscription {
        Subscription {
            id: id.into(),
            global_instance_id: "g".into(),
            connect_time: rfc3339(OffsetDateTime::now_utc()),
            ..Subscription::default()
        }
    }

    #[tokio::test]
    async fn connections_are_recorded_and_capped() {
        let store = Store::memory();
        ensure_zone(&store, "z1").await.unwrap();
        ensure_zone(&store, "z1").await.unwrap();
        assert_eq!(insight(&store, "z1").await.unwrap(), None);
        connected(&store, "z1", sub("a")).await.unwrap();
        assert!(insight(&store, "z1").await.unwrap().unwrap().is_online());
        disconnected(&store, "z1", "a").await.unwrap();
        assert!(!insight(&store, "z1").await.unwrap().unwrap().is_online());
        for i in 0..15 {
            connected(&store, "z1", sub(&i.to_string())).await.unwrap();
        }
        let insight = insight(&store, "z1").await.unwrap().unwrap();
        assert_eq!(insight.subscriptions.len(), SUBSCRIPTION_LIMIT);
        assert_eq!(insight.subscriptions.last().unwrap().id, "14");
        let open = insight.subscriptions.iter().filter(|s| s.disconnect_time.is_none()).count();
        assert_eq!(open, 1, "only the newest connection is open");
    }
}
