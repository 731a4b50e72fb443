//! A data plane proxy's identity, derived in this one place from its Dataplane: the mTLS
//! identity (mesh and tag set, and the `spiffe://` and `kuma://` URI SANs Kuma puts in its
//! certificate) and the view a dataplane token is checked against.
//!
//! Pure functions of the Dataplane spec and its labels; nothing here signs, validates a token or
//! stores anything.

use std::collections::{BTreeMap, BTreeSet};

use crate::resources::{DataplaneSpec, SERVICE_TAG};
use crate::tokens::DataplaneIdentity;

/// The label that names a proxy's workload: it stands in for a missing `kuma.io/service` tag in
/// certificates, and a token may be bound to it.
pub const WORKLOAD_LABEL: &str = "kuma.io/workload";

/// The Dataplane whose identity is derived.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Its mesh.
    pub mesh: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its spec.
    pub spec: &'a DataplaneSpec,
    /// Its labels.
    pub labels: &'a BTreeMap<String, String>,
}

/// Who a certificate is for: a mesh and every tag value the proxy carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The mesh, which is the SPIFFE trust domain.
    pub mesh: String,
    /// Tag name to values; `kuma.io/service` is always present and non-empty.
    pub tags: BTreeMap<String, BTreeSet<String>>,
}

/// The proxy has no identity to put in a certificate (Kuma's text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "dataplane {0:?} has no kuma.io/service tag and no kuma.io/workload label, cannot derive mTLS \
     identity"
)]
pub struct NoIdentity(pub String);

impl Identity {
    /// The URI SANs in Kuma's order: `spiffe://<mesh>/<service>` per service (sorted), then
    /// `kuma://<tag>/<value>` for every tag, names sorted and values sorted and unique.
    pub fn uris(&self) -> Vec<String> {
        let services = self.tags.get(SERVICE_TAG).into_iter().flatten();
        let spiffe = services.map(|s| format!("spiffe://{}/{s}", self.mesh));
        let kuma = self
            .tags
            .iter()
            .flat_map(|(name, values)| values.iter().map(move |v| format!("kuma://{name}/{v}")));
        spiffe.chain(kuma).collect()
    }
}

impl Subject<'_> {
    /// The mTLS identity: the union of the inbound and gateway tags. Without a
    /// `kuma.io/service` tag, the `kuma.io/workload` label becomes the service (and so appears
    /// as `kuma://kuma.io/service/<workload>` too); with neither, Kuma's error.
    pub fn mtls(&self) -> Result<Identity, NoIdentity> {
        let mut tags = self.inbound_tags();
        if let Some(gateway) = self.spec.networking.as_ref().and_then(|n| n.gateway.as_ref()) {
            for (key, value) in &gateway.tags {
                tags.entry(key.clone()).or_default().insert(value.clone());
            }
        }
        let has_service = tags.get(SERVICE_TAG).is_some_and(|s| !s.is_empty());
        if !has_service {
            let workload = self
                .labels
                .get(WORKLOAD_LABEL)
                .filter(|w| !w.is_empty())
                .ok_or_else(|| NoIdentity(self.name.to_owned()))?;
            tags.insert(SERVICE_TAG.to_owned(), BTreeSet::from([workload.clone()]));
        }
        Ok(Identity { mesh: self.mesh.to_owned(), tags })
    }

    /// What a dataplane token's claims are checked against: name, mesh, every inbound tag with
    /// all its values, and the workload label. Gateway tags are not part of it (they never were
    /// here; Kuma's authenticator counts them, see ARCHITECTURE.md).
    pub fn token_view(&self) -> DataplaneIdentity {
        DataplaneIdentity {
            name: self.name.to_owned(),
            mesh: self.mesh.to_owned(),
            tags: self.inbound_tags(),
            workload: self.labels.get(WORKLOAD_LABEL).cloned(),
            workload_derives_identity: false,
        }
    }

    fn inbound_tags(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for inbound in self.spec.networking.iter().flat_map(|n| &n.inbound) {
            for (key, value) in &inbound.tags {
                tags.entry(key.clone()).or_default().insert(value.clone());
            }
        }
        tags
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dp(value: serde_json::Value) -> DataplaneSpec {
        serde_json::from_value(value).unwrap()
    }

    fn subject<'a>(
        mesh: &'a str,
        name: &'a str,
        spec: &'a DataplaneSpec,
        labels: &'a BTreeMap<String, String>,
    ) -> Subject<'a> {
        Subject { mesh, name, spec, labels }
    }

    fn web() -> DataplaneSpec {
        dp(json!({"networking": {"address": "10.0.0.1", "inbound": [
            {"port": 8080, "tags": {"kuma.io/service": "web", "version": "v1"}},
            {"port": 8081, "tags": {"kuma.io/service": "web-api", "version": "v1"}},
        ]}}))
    }

    #[test]
    fn tags_are_the_union_of_inbound_tags() {
        let id = subject("default", "web-01", &web(), &BTreeMap::new()).mtls().unwrap();
        assert_eq!(id.mesh, "default");
        assert_eq!(
            id.tags,
            BTreeMap::from([
                (SERVICE_TAG.to_owned(), BTreeSet::from(["web".to_owned(), "web-api".to_owned()])),
                ("version".to_owned(), BTreeSet::from(["v1".to_owned()])),
            ])
        );
    }

    #[test]
    fn sans_follow_kumas_order() {
        let id = subject("default", "web-01", &web(), &BTreeMap::new()).mtls().unwrap();
        assert_eq!(
            id.uris(),
            [
                "spiffe://default/web",
                "spiffe://default/web-api",
                "kuma://kuma.io/service/web",
                "kuma://kuma.io/service/web-api",
                "kuma://version/v1",
            ]
        );
    }

    #[test]
    fn gateway_tags_count() {
        let gw = dp(json!({"networking": {"address": "10.0.0.2", "gateway": {
            "type": "BUILTIN", "tags": {"kuma.io/service": "edge"}}}}));
        let id = subject("default", "edge-01", &gw, &BTreeMap::new()).mtls().unwrap();
        assert_eq!(id.uris(), ["spiffe://default/edge", "kuma://kuma.io/service/edge"]);
    }

    #[test]
    fn workload_label_stands_in_for_a_missing_service() {
        let bare = dp(json!({"networking": {"address": "10.0.0.3", "inbound": [
            {"port": 80, "tags": {"zone": "east"}}]}}));
        let labels = BTreeMap::from([(WORKLOAD_LABEL.to_owned(), "backend".to_owned())]);
        let id = subject("mesh-1", "be-01", &bare, &labels).mtls().unwrap();
        assert_eq!(
            id.uris(),
            ["spiffe://mesh-1/backend", "kuma://kuma.io/service/backend", "kuma://zone/east",]
        );
    }

    #[test]
    fn no_service_and_no_workload_is_kumas_error() {
        let bare = dp(json!({"networking": {"address": "10.0.0.3"}}));
        let err = subject("default", "dp-1", &bare, &BTreeMap::new()).mtls().unwrap_err();
        assert_eq!(
            err.to_string(),
            "dataplane \"dp-1\" has no kuma.io/service tag and no kuma.io/workload label, \
             cannot derive mTLS identity"
        );
    }

    #[test]
    fn the_token_view_has_the_inbound_tags_and_the_workload() {
        let gw = dp(json!({"networking": {"address": "10.0.0.2",
            "inbound": [{"port": 80, "tags": {"kuma.io/service": "web", "version": "v1"}}],
            "gateway": {"type": "BUILTIN", "tags": {"kuma.io/service": "edge"}}}}));
        let labels = BTreeMap::from([(WORKLOAD_LABEL.to_owned(), "backend".to_owned())]);
        let view = subject("default", "web-01", &gw, &labels).token_view();
        assert_eq!((view.name.as_str(), view.mesh.as_str()), ("web-01", "default"));
        assert_eq!(view.workload.as_deref(), Some("backend"));
        assert_eq!(
            view.tags,
            BTreeMap::from([
                (SERVICE_TAG.to_owned(), BTreeSet::from(["web".to_owned()])),
                ("version".to_owned(), BTreeSet::from(["v1".to_owned()])),
            ])
        );
    }
}
