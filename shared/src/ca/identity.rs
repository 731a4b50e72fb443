//! A data plane proxy's mTLS identity: its mesh and tag set, and the URI SANs Kuma derives
//! from them.
//!
//! Pure functions of the Dataplane spec and its labels; nothing here signs or stores anything.

use std::collections::{BTreeMap, BTreeSet};

use super::Error;
use crate::resources::{DataplaneSpec, SERVICE_TAG};

/// The label that names a proxy's workload when it has no `kuma.io/service` tag.
const WORKLOAD_LABEL: &str = "kuma.io/workload";

/// Who a certificate is for: a mesh and every tag value the proxy carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The mesh, which is the SPIFFE trust domain.
    pub mesh: String,
    /// Tag name to values; `kuma.io/service` is always present and non-empty.
    pub tags: BTreeMap<String, BTreeSet<String>>,
}

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

/// Derives the identity of Dataplane `name` in `mesh`: the union of its inbound (and gateway)
/// tags. Without a `kuma.io/service` tag, the `kuma.io/workload` label becomes the service (and
/// so appears as `kuma://kuma.io/service/<workload>` too); with neither, Kuma's error.
pub fn identity(
    mesh: &str,
    name: &str,
    dp: &DataplaneSpec,
    labels: &BTreeMap<String, String>,
) -> Result<Identity, Error> {
    let mut tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if let Some(networking) = &dp.networking {
        let inbound = networking.inbound.iter().map(|i| &i.tags);
        for set in inbound.chain(networking.gateway.iter().map(|g| &g.tags)) {
            for (key, value) in set {
                tags.entry(key.clone()).or_default().insert(value.clone());
            }
        }
    }
    let has_service = tags.get(SERVICE_TAG).is_some_and(|s| !s.is_empty());
    if !has_service {
        let workload = labels
            .get(WORKLOAD_LABEL)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| Error::NoIdentity(name.to_owned()))?;
        tags.insert(SERVICE_TAG.to_owned(), BTreeSet::from([workload.clone()]));
    }
    Ok(Identity { mesh: mesh.to_owned(), tags })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dp(value: serde_json::Value) -> DataplaneSpec {
        serde_json::from_value(value).unwrap()
    }

    fn web() -> DataplaneSpec {
        dp(json!({"networking": {"address": "10.0.0.1", "inbound": [
            {"port": 8080, "tags": {"kuma.io/service": "web", "version": "v1"}},
            {"port": 8081, "tags": {"kuma.io/service": "web-api", "version": "v1"}},
        ]}}))
    }

    #[test]
    fn tags_are_the_union_of_inbound_tags() {
        let id = identity("default", "web-01", &web(), &BTreeMap::new()).unwrap();
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
        let id = identity("default", "web-01", &web(), &BTreeMap::new()).unwrap();
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
        let id = identity("default", "edge-01", &gw, &BTreeMap::new()).unwrap();
        assert_eq!(id.uris(), ["spiffe://default/edge", "kuma://kuma.io/service/edge"]);
    }

    #[test]
    fn workload_label_stands_in_for_a_missing_service() {
        let bare = dp(json!({"networking": {"address": "10.0.0.3", "inbound": [
            {"port": 80, "tags": {"zone": "east"}}]}}));
        let labels = BTreeMap::from([(WORKLOAD_LABEL.to_owned(), "backend".to_owned())]);
        let id = identity("mesh-1", "be-01", &bare, &labels).unwrap();
        assert_eq!(
            id.uris(),
            ["spiffe://mesh-1/backend", "kuma://kuma.io/service/backend", "kuma://zone/east",]
        );
    }

    #[test]
    fn no_service_and_no_workload_is_kumas_error() {
        let bare = dp(json!({"networking": {"address": "10.0.0.3"}}));
        let err = identity("default", "dp-1", &bare, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dataplane \"dp-1\" has no kuma.io/service tag and no kuma.io/workload label, \
             cannot derive mTLS identity"
        );
    }
}
