//! `DataplaneInsight` records (mesh-scoped, named after the Dataplane) in Kuma's JSON shape: one
//! subscription per DP server session and the mTLS state of the last certificate. Writes are
//! read-modify-write with optimistic retries; nothing here decides when to write.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shared::api::dataplanes::INSIGHT_KIND as KIND;
use shared::store::{self, Key, Store};
use shared::zones::rfc3339;
use time::OffsetDateTime;

/// Sessions kept per proxy; older ones are dropped.
const SUBSCRIPTION_LIMIT: usize = 10;
/// Attempts of one read-modify-write before giving up on conflicts.
const RETRIES: usize = 10;

/// Kuma's `DataplaneInsight`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataplaneInsight {
    /// DP server sessions, oldest first.
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// The last issued certificate.
    #[serde(rename = "mTLS", default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<MtlsInsight>,
}

/// One session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Random id of the session.
    pub id: String,
    /// The control plane instance that served it.
    pub control_plane_instance_id: String,
    /// RFC 3339.
    pub connect_time: String,
    /// RFC 3339, once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_time: Option<String>,
    /// kuma-dp's version, as it said in its Hello.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, serde_json::Value>,
}

/// `mTLS` of the insight.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MtlsInsight {
    /// `notAfter` of the last certificate, RFC 3339.
    pub certificate_expiration_time: String,
    /// When it was issued, RFC 3339.
    pub last_certificate_regeneration: String,
    /// How many certificates were issued to this proxy.
    pub certificate_regenerations: u64,
    /// The backend that issued the last one.
    pub issued_backend: String,
    /// The backends this proxy can verify (the enabled one).
    #[serde(default)]
    pub supported_backends: Vec<String>,
}

/// Records a new session.
pub async fn connected(
    store: &Store,
    mesh: &str,
    name: &str,
    subscription: Subscription,
) -> Result<(), store::Error> {
    update(store, mesh, name, |insight| {
        let now = rfc3339(OffsetDateTime::now_utc());
        // Sessions of a previous instance that never ended cleanly are over.
        for old in insight.subscriptions.iter_mut().filter(|s| s.disconnect_time.is_none()) {
            old.disconnect_time = Some(now.clone());
        }
        insight.subscriptions.push(subscription.clone());
        let excess = insight.subscriptions.len().saturating_sub(SUBSCRIPTION_LIMIT);
        insight.subscriptions.drain(..excess);
    })
    .await
}

/// Records the end of session `id`.
pub async fn disconnected(
    store: &Store,
    mesh: &str,
    name: &str,
    id: &str,
) -> Result<(), store::Error> {
    let now = rfc3339(OffsetDateTime::now_utc());
    update(store, mesh, name, |insight| {
        if let Some(sub) = insight.subscriptions.iter_mut().find(|s| s.id == id) {
            sub.disconnect_time.get_or_insert_with(|| now.clone());
        }
    })
    .await
}

/// Records an issued certificate.
pub async fn issued(
    store: &Store,
    mesh: &str,
    name: &str,
    backend: &str,
    not_after: OffsetDateTime,
) -> Result<(), store::Error> {
    let now = rfc3339(OffsetDateTime::now_utc());
    let expires = rfc3339(not_after);
    update(store, mesh, name, |insight| {
        let count = insight.mtls.as_ref().map_or(0, |m| m.certificate_regenerations);
        insight.mtls = Some(MtlsInsight {
            certificate_expiration_time: expires.clone(),
            last_certificate_regeneration: now.clone(),
            certificate_regenerations: count + 1,
            issued_backend: backend.to_owned(),
            supported_backends: vec![backend.to_owned()],
        });
    })
    .await
}

async fn update(
    store: &Store,
    mesh: &str,
    name: &str,
    change: impl Fn(&mut DataplaneInsight),
) -> Result<(), store::Error> {
    store.upsert_with(Key::mesh_scoped(KIND, mesh, name), RETRIES, change).await
}
