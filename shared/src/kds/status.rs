//! A zone control plane's view of its own KDS connection, for the logs, `GET /status/kds` and
//! the `kuma_kds_global_connected` metric. The zone's KDS client sets it; the API reads it.

use std::sync::{Arc, Mutex};

use kuma_core::resources::insight::rfc3339;
use serde::Serialize;
use time::OffsetDateTime;

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
