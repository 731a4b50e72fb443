//! `DataplaneInsight` records (mesh-scoped, named after the Dataplane) in Kuma's JSON shape: one
//! subscription per DP server session (the CSR session, and the ADS stream with its `status`:
//! responses sent, acknowledged and rejected per xDS type, and the last rejection's reason) and
//! the mTLS state of the last certificate. Sessions queue
//! edits to one writer task and never wait for the store; nothing here decides when to write.
//!
//! The writer takes every edit queued since its last round, groups them by proxy and writes each
//! proxy's insight once (read-modify-write with optimistic retries), applying its edits in the
//! order they came. One writer means insight writes never contend with each other for SQLite's
//! write lock, and a proxy that connects and gets its certificate within one round costs one
//! write instead of two. Under load the rounds grow by themselves; when idle an edit is written
//! at once.

use std::collections::{BTreeMap, HashMap};

use kuma_core::resources::insight::{DATAPLANE_INSIGHT_KIND as KIND, rfc3339};
use serde::{Deserialize, Serialize};
use store::{Key, Store};
use time::OffsetDateTime;
use tokio::sync::mpsc;

/// Sessions kept per proxy; older ones are dropped.
const SUBSCRIPTION_LIMIT: usize = 10;
/// Attempts of one read-modify-write before giving up on conflicts.
const RETRIES: usize = 10;
/// The most edits taken into one round, so that a round stays short.
const ROUND_LIMIT: usize = 4096;

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
    /// Set on ADS streams: what was sent and how the proxy took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<XdsStatus>,
}

/// Kuma's `DiscoverySubscriptionStatus` (counts are strings, as protojson prints uint64).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct XdsStatus {
    /// RFC 3339 time of the last response or acknowledgement.
    pub last_update_time: String,
    /// All types together.
    pub total: XdsStats,
    /// Clusters.
    pub cds: XdsStats,
    /// Endpoints.
    pub eds: XdsStats,
    /// Listeners.
    pub lds: XdsStats,
    /// Parts of the Dataplane that got no configuration, naming the field (not in Kuma's
    /// shape), e.g. two inbounds on one port.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Kuma's `DiscoveryServiceStats`, plus the reason of the last rejection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct XdsStats {
    /// Responses sent.
    #[serde(with = "count")]
    pub responses_sent: u64,
    /// Responses the proxy accepted.
    #[serde(with = "count")]
    pub responses_acknowledged: u64,
    /// Responses the proxy rejected.
    #[serde(with = "count")]
    pub responses_rejected: u64,
    /// What the proxy said when it last rejected one (not in Kuma's shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rejection: Option<String>,
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

/// Queues insight edits for the writer task. Cloning is cheap; the task ends once every clone
/// is gone and what was queued is written.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Edit>,
}

/// One edit of the insight of proxy `mesh`/`name`.
struct Edit {
    mesh: String,
    name: String,
    change: Change,
}

enum Change {
    Connected(Subscription),
    Disconnected { id: String, at: OffsetDateTime },
    Issued { backend: String, not_after: OffsetDateTime, at: OffsetDateTime },
    Xds { id: String, status: XdsStatus },
}

impl Writer {
    /// Starts the writer task over `store`.
    pub fn spawn(store: Store) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(store, rx));
        Self { tx }
    }

    /// Records a new session.
    pub fn connected(&self, mesh: &str, name: &str, subscription: Subscription) {
        self.queue(mesh, name, Change::Connected(subscription));
    }

    /// Records the end of session `id`.
    pub fn disconnected(&self, mesh: &str, name: &str, id: &str) {
        let at = OffsetDateTime::now_utc();
        self.queue(mesh, name, Change::Disconnected { id: id.to_owned(), at });
    }

    /// Records an issued certificate.
    pub fn issued(&self, mesh: &str, name: &str, backend: &str, not_after: OffsetDateTime) {
        let at = OffsetDateTime::now_utc();
        self.queue(mesh, name, Change::Issued { backend: backend.to_owned(), not_after, at });
    }

    /// Records the xDS status of ADS stream `id`.
    pub fn xds(&self, mesh: &str, name: &str, id: &str, status: XdsStatus) {
        self.queue(mesh, name, Change::Xds { id: id.to_owned(), status });
    }

    fn queue(&self, mesh: &str, name: &str, change: Change) {
        let edit = Edit { mesh: mesh.to_owned(), name: name.to_owned(), change };
        // The task runs until every sender is gone, so while `self` lives the queue is open.
        let _ = self.tx.send(edit);
    }
}

/// The writer task: takes every queued edit, writes each proxy's insight once with its edits
/// in order, then waits for more.
async fn write(store: Store, mut rx: mpsc::UnboundedReceiver<Edit>) {
    let mut round = Vec::new();
    while rx.recv_many(&mut round, ROUND_LIMIT).await > 0 {
        for ((mesh, name), changes) in by_proxy(round.drain(..)) {
            let key = Key::mesh_scoped(KIND, &mesh, &name);
            let written = store
                .upsert_with(key, RETRIES, |insight: &mut DataplaneInsight| {
                    changes.iter().for_each(|change| insight.apply(change));
                })
                .await;
            if let Err(err) = written {
                tracing::warn!(%mesh, %name, error = %err, "could not record the proxy's insight");
            }
        }
    }
}

/// The edits grouped by proxy, proxies in the order of their first edit, each proxy's edits in
/// the order they came.
fn by_proxy(edits: impl Iterator<Item = Edit>) -> Vec<((String, String), Vec<Change>)> {
    let mut groups: Vec<((String, String), Vec<Change>)> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for edit in edits {
        let key = (edit.mesh, edit.name);
        let at = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(edit.change);
    }
    groups
}

impl DataplaneInsight {
    fn apply(&mut self, change: &Change) {
        match change {
            Change::Connected(subscription) => {
                // Sessions of the same kind (CSR session or ADS stream) of a previous instance
                // that never ended cleanly are over.
                let now = &subscription.connect_time;
                let xds = subscription.status.is_some();
                let open = |s: &&mut Subscription| {
                    s.disconnect_time.is_none() && s.status.is_some() == xds
                };
                for old in self.subscriptions.iter_mut().filter(open) {
                    old.disconnect_time = Some(now.clone());
                }
                self.subscriptions.push(subscription.clone());
                let excess = self.subscriptions.len().saturating_sub(SUBSCRIPTION_LIMIT);
                self.subscriptions.drain(..excess);
            }
            Change::Disconnected { id, at } => {
                if let Some(sub) = self.subscriptions.iter_mut().find(|s| s.id == *id) {
                    sub.disconnect_time.get_or_insert_with(|| rfc3339(*at));
                }
            }
            Change::Xds { id, status } => {
                if let Some(sub) = self.subscriptions.iter_mut().find(|s| s.id == *id) {
                    sub.status = Some(status.clone());
                }
            }
            Change::Issued { backend, not_after, at } => {
                let count = self.mtls.as_ref().map_or(0, |m| m.certificate_regenerations);
                self.mtls = Some(MtlsInsight {
                    certificate_expiration_time: rfc3339(*not_after),
                    last_certificate_regeneration: rfc3339(*at),
                    certificate_regenerations: count + 1,
                    issued_backend: backend.clone(),
                    supported_backends: vec![backend.clone()],
                });
            }
        }
    }
}

/// uint64 counts as protojson prints them: decimal strings (numbers are accepted too).
mod count {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&n.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Count {
            Text(String),
            Number(u64),
        }
        match Count::deserialize(d)? {
            Count::Number(n) => Ok(n),
            Count::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(id: &str) -> Subscription {
        Subscription {
            id: id.to_owned(),
            control_plane_instance_id: "cp".to_owned(),
            connect_time: rfc3339(OffsetDateTime::now_utc()),
            ..Default::default()
        }
    }

    async fn insight(store: &Store, name: &str, version: u64) -> DataplaneInsight {
        let key = Key::mesh_scoped(KIND, "default", name);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match store.get(&key).await {
                Ok(record) if record.version >= version => {
                    assert_eq!(record.version, version, "one write per proxy and round");
                    return serde_json::from_value(record.spec).unwrap();
                }
                _ if tokio::time::Instant::now() < deadline => tokio::task::yield_now().await,
                other => panic!("no insight {name} at version {version}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn edits_queued_together_are_one_write_per_proxy_in_order() {
        let store = Store::memory();
        let writer = Writer::spawn(store.clone());
        // Queued before the writer task first runs (this test's runtime has one thread).
        writer.connected("default", "web", subscription("s1"));
        writer.connected("default", "db", subscription("s2"));
        writer.issued("default", "web", "ca-1", OffsetDateTime::now_utc());
        writer.disconnected("default", "web", "s1");
        writer.connected("default", "web", subscription("s3"));

        let web = insight(&store, "web", 1).await;
        let ids: Vec<_> = web.subscriptions.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["s1", "s3"]);
        assert!(web.subscriptions[0].disconnect_time.is_some());
        assert!(web.subscriptions[1].disconnect_time.is_none());
        let mtls = web.mtls.unwrap();
        assert_eq!((mtls.certificate_regenerations, mtls.issued_backend.as_str()), (1, "ca-1"));
        assert_eq!(insight(&store, "db", 1).await.subscriptions.len(), 1);

        // A later edit is a later write over what is stored.
        writer.issued("default", "web", "ca-1", OffsetDateTime::now_utc());
        let web = insight(&store, "web", 2).await;
        assert_eq!(web.mtls.unwrap().certificate_regenerations, 2);
    }

    #[tokio::test]
    async fn a_new_session_ends_the_open_ones_and_old_sessions_are_dropped() {
        let mut insight = DataplaneInsight::default();
        for n in 0..SUBSCRIPTION_LIMIT + 2 {
            insight.apply(&Change::Connected(subscription(&format!("s{n}"))));
        }
        assert_eq!(insight.subscriptions.len(), SUBSCRIPTION_LIMIT);
        assert_eq!(insight.subscriptions[0].id, "s2");
        let open = insight.subscriptions.iter().filter(|s| s.disconnect_time.is_none()).count();
        assert_eq!(open, 1);
    }
}
