//! The zones registry kept by the global: a `Zone` per zone name (created on first connect) and a
//! `ZoneInsight` record with the zone's KDS subscriptions, so operators see which zones are
//! online, since when, from which instance, and how they authenticated.
//!
//! Insights are plain store records (kind `ZoneInsight`, Kuma's JSON shape); they are written by
//! the KDS server and read by the API. Nothing here talks to a zone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::json;
use store::{self, Key, Store};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use kuma_core::resources::insight::{HealthCheck, INSIGHT_KIND, Subscription, ZoneInsight};

/// How many subscriptions an insight keeps (Kuma's `KUMA_METRICS_ZONE_SUBSCRIPTION_LIMIT`).
const SUBSCRIPTION_LIMIT: usize = 10;
/// Attempts at a contended insight update before giving up on that one write.
const RETRIES: usize = 5;

/// Creates the `Zone` named `zone` (enabled) when it does not exist yet; Kuma does so on a
/// zone's first connection.
pub async fn ensure_zone(store: &Store, zone: &str) -> Result<(), store::Error> {
    let key = Key::global("Zone", zone);
    match store.create(key, json!({ "enabled": true }), BTreeMap::new()).await {
        Ok(_) | Err(store::Error::AlreadyExists { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Records a new connection of `zone`.
pub async fn connected(
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
pub async fn disconnected(store: &Store, zone: &str, id: &str) -> Result<(), store::Error> {
    let now = rfc3339(OffsetDateTime::now_utc());
    update(store, zone, |insight| {
        if let Some(sub) = insight.subscriptions.iter_mut().find(|s| s.id == id) {
            sub.disconnect_time.get_or_insert_with(|| now.clone());
        }
    })
    .await
}

/// Records a health check ping of `zone`.
pub async fn health_checked(
    store: &Store,
    zone: &str,
    now: OffsetDateTime,
) -> Result<(), store::Error> {
    update(store, zone, |insight| insight.health_check = Some(HealthCheck { time: rfc3339(now) }))
        .await
}

/// The insight of `zone`, if it ever connected.
pub async fn insight(store: &Store, zone: &str) -> Result<Option<ZoneInsight>, store::Error> {
    match store.get(&Key::global(INSIGHT_KIND, zone)).await {
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
    store.upsert_with(Key::global(INSIGHT_KIND, zone), RETRIES, change).await
}

/// RFC 3339 in UTC, as Kuma prints times.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A zone control plane's view of its own KDS connection, for the logs, `GET /status/kds` and
/// the `kuma_kds_global_connected` metric.
#[derive(Clone, Default)]
pub struct KdsStatus(Arc<Mutex<KdsState>>, Option<crate::metrics::Metrics>);

impl std::fmt::Debug for KdsStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("KdsStatus").field(&self.get()).finish()
    }
}

/// The state [`KdsStatus`] holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KdsState {
    /// `disabled` (not federated), `connecting`, `connected` or `disconnected`.
    pub state: &'static str,
    /// The global address.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub global_address: String,
    /// Since when (RFC 3339).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub since: String,
    /// Why the last attempt failed: the TLS, allowlist or token problem, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl KdsStatus {
    /// A status that also reports whether it is connected in `metrics`.
    pub fn with_metrics(metrics: crate::metrics::Metrics) -> Self {
        Self(Arc::default(), Some(metrics))
    }

    /// Sets the state (and clears the error when connected).
    pub fn set(&self, state: &'static str, global_address: &str, error: Option<String>) {
        let mut current = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let last_error =
            if state == "connected" { None } else { error.or(current.last_error.take()) };
        *current = KdsState {
            state,
            global_address: global_address.to_owned(),
            since: rfc3339(OffsetDateTime::now_utc()),
            last_error,
        };
        if let Some(metrics) = &self.1 {
            metrics.kds_global_connected(state == "connected");
        }
    }

    /// The current state.
    pub fn get(&self) -> KdsState {
        let current = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if current.state.is_empty() { KdsState { state: "disabled", ..current } } else { current }
    }
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

    #[test]
    fn the_kds_status_drives_the_connected_gauge() {
        let metrics = crate::metrics::Metrics::new();
        let status = KdsStatus::with_metrics(metrics.clone());
        let gauge =
            |m: &crate::metrics::Metrics| m.render().contains("kuma_kds_global_connected 1");
        status.set("connecting", "grpcs://g:5685", None);
        assert!(!gauge(&metrics));
        status.set("connected", "grpcs://g:5685", None);
        assert!(gauge(&metrics));
        status.set("disconnected", "grpcs://g:5685", Some("closed".into()));
        assert!(!gauge(&metrics));
        assert_eq!(status.get().last_error.as_deref(), Some("closed"));
    }
}
