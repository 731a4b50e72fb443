//! Kuma's defaults for a new deployment: the `default` Mesh, with its dataplane token signing
//! key, so that `kumactl generate dataplane-token --mesh default` works on a fresh control plane.
//!
//! They are applied once per deployment, not on every start: a `Config` record
//! ([`MARKER`]) remembers it, so a `default` Mesh the operator deleted stays deleted. The marker
//! and the Mesh are written in one transaction, create-only, so instances starting together on
//! one PostgreSQL make one Mesh between them and the losers carry on. A federated zone creates
//! nothing: its meshes come from the global. `KUMA_DEFAULTS_SKIP_MESH_CREATION` turns it off (and
//! records nothing, so turning it back on later still creates the Mesh).

use std::collections::BTreeMap;

use kuma_core::resources::{MeshSpec, ResourceType, SERVICE_TAG, Spec};
use serde_json::json;
use store::{Key, Store, Write};
use time::OffsetDateTime;

use crate::api::Role;
use crate::config::Defaults;
use crate::credentials::{self, Credentials};

/// The `Config` record that says the defaults were applied to this deployment.
pub const MARKER: &str = "kuma-defaults";
/// The Mesh every Kuma deployment starts with.
pub const DEFAULT_MESH: &str = "default";

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The `default` Mesh was created now.
    Created,
    /// This deployment had its defaults already (applied by an earlier start or by another
    /// instance), or a `default` Mesh existed before defaults were recorded.
    AlreadyApplied,
    /// `KUMA_DEFAULTS_SKIP_MESH_CREATION` is set.
    Skipped,
    /// A federated zone takes its meshes from the global.
    FederatedZone,
}

/// Applies the defaults once per deployment; see the module docs.
pub async fn apply(
    store: &Store,
    credentials: &Credentials,
    role: Role,
    settings: Defaults,
    now: OffsetDateTime,
) -> Result<Outcome, credentials::Error> {
    if role == Role::FederatedZone {
        return Ok(Outcome::FederatedZone);
    }
    if settings.skip_mesh_creation {
        return Ok(Outcome::Skipped);
    }
    let marker = Key::global("Config", MARKER);
    let mesh = Key::global(ResourceType::Mesh.name(), DEFAULT_MESH);
    let spec = MeshSpec::default();
    let outcome = if exists(store, &marker).await? {
        Outcome::AlreadyApplied
    } else {
        let record = json!({ "config": json!({ "defaultMesh": true }).to_string() });
        let mut writes = vec![
            Write::Create { key: marker.clone(), spec: record.clone(), labels: BTreeMap::new() },
            Write::Create {
                key: mesh.clone(),
                spec: Spec::Mesh(spec.clone()).to_value(),
                labels: BTreeMap::new(),
            },
        ];
        if settings.create_mesh_routing_resources {
            // As a mesh created through the API gets it with this setting.
            let name = format!("allow-all-{DEFAULT_MESH}");
            let all = json!([{ "match": { SERVICE_TAG: "*" } }]);
            writes.push(Write::Create {
                key: Key::mesh_scoped(ResourceType::TrafficPermission.name(), DEFAULT_MESH, &name),
                spec: json!({ "sources": all, "destinations": all }),
                labels: BTreeMap::new(),
            });
        }
        match store.write_all(writes).await {
            Ok(_) => Outcome::Created,
            // Another instance got there first, or the operator made a `default` Mesh before
            // defaults were recorded: either way there is nothing to create, only to record.
            Err(store::Error::AlreadyExists { .. }) => {
                match store.create(marker, record, BTreeMap::new()).await {
                    Ok(_) | Err(store::Error::AlreadyExists { .. }) => Outcome::AlreadyApplied,
                    Err(err) => return Err(err.into()),
                }
            }
            Err(err) => return Err(err.into()),
        }
    };
    // The Mesh's signing key comes after the Mesh, as for one created through the API; doing it
    // on every start also repairs a start that stopped in between. Create-only, so concurrent
    // instances agree on one key.
    if outcome == Outcome::Created || exists(store, &mesh).await? {
        credentials.ensure_mesh(DEFAULT_MESH, &spec, now).await?;
    }
    Ok(outcome)
}

async fn exists(store: &Store, key: &Key) -> Result<bool, store::Error> {
    match store.get(key).await {
        Ok(_) => Ok(true),
        Err(store::Error::NotFound { .. }) => Ok(false),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditLog;

    fn credentials(store: &Store) -> Credentials {
        Credentials::new(store.clone(), Default::default(), AuditLog::memory())
    }

    async fn meshes(store: &Store) -> Vec<String> {
        let records = store.list(ResourceType::Mesh.name(), None).await.unwrap();
        records.into_iter().map(|r| r.key.name).collect()
    }

    async fn signing_keys(store: &Store) -> usize {
        let secrets = store.list("Secret", Some(DEFAULT_MESH)).await.unwrap();
        secrets.iter().filter(|r| r.key.name.starts_with("dataplane-token-signing-key-")).count()
    }

    const ON: Defaults =
        Defaults { skip_mesh_creation: false, create_mesh_routing_resources: false };

    #[tokio::test]
    async fn the_default_mesh_is_created_once_and_stays_deleted() {
        let store = Store::memory();
        let creds = credentials(&store);
        let now = OffsetDateTime::now_utc();
        assert_eq!(apply(&store, &creds, Role::Zone, ON, now).await.unwrap(), Outcome::Created);
        assert_eq!(meshes(&store).await, ["default"]);
        assert_eq!(signing_keys(&store).await, 1);

        store.delete_mesh(DEFAULT_MESH).await.unwrap();
        let again = apply(&store, &creds, Role::Zone, ON, now).await.unwrap();
        assert_eq!(again, Outcome::AlreadyApplied);
        assert!(meshes(&store).await.is_empty(), "a deleted default mesh came back");
    }

    #[tokio::test]
    async fn with_routing_resources_the_default_mesh_gets_allow_all() {
        let store = Store::memory();
        let creds = credentials(&store);
        let routing = Defaults { create_mesh_routing_resources: true, ..ON };
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            apply(&store, &creds, Role::Zone, routing, now).await.unwrap(),
            Outcome::Created
        );
        let tps = store.list("TrafficPermission", Some(DEFAULT_MESH)).await.unwrap();
        assert_eq!(tps.len(), 1);
        assert_eq!(tps[0].key.name, "allow-all-default");
        assert_eq!(tps[0].spec["sources"][0]["match"]["kuma.io/service"], "*");
    }

    #[tokio::test]
    async fn instances_starting_together_make_one_mesh_and_one_key() {
        let store = Store::memory();
        let now = OffsetDateTime::now_utc();
        let runs = (0..4).map(|_| {
            let (store, creds) = (store.clone(), credentials(&store));
            tokio::spawn(async move { apply(&store, &creds, Role::Global, ON, now).await })
        });
        let mut outcomes = Vec::new();
        for run in runs {
            outcomes.push(run.await.unwrap().unwrap());
        }
        assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Created).count(), 1, "{outcomes:?}");
        assert_eq!(meshes(&store).await, ["default"]);
        assert_eq!(signing_keys(&store).await, 1);
    }

    #[tokio::test]
    async fn a_default_mesh_made_before_defaults_is_kept_and_recorded() {
        let store = Store::memory();
        let creds = credentials(&store);
        let now = OffsetDateTime::now_utc();
        let labels = BTreeMap::from([("team".to_owned(), "ops".to_owned())]);
        let key = Key::global("Mesh", DEFAULT_MESH);
        store.create(key.clone(), json!({}), labels.clone()).await.unwrap();
        let outcome = apply(&store, &creds, Role::Zone, ON, now).await.unwrap();
        assert_eq!(outcome, Outcome::AlreadyApplied);
        assert_eq!(store.get(&key).await.unwrap().labels, labels);
        assert!(store.get(&Key::global("Config", MARKER)).await.is_ok());
        assert_eq!(signing_keys(&store).await, 1);
    }

    #[tokio::test]
    async fn skipped_or_federated_creates_nothing() {
        let store = Store::memory();
        let creds = credentials(&store);
        let now = OffsetDateTime::now_utc();
        let skip = Defaults { skip_mesh_creation: true, ..ON };
        assert_eq!(apply(&store, &creds, Role::Zone, skip, now).await.unwrap(), Outcome::Skipped);
        let federated = apply(&store, &creds, Role::FederatedZone, ON, now).await.unwrap();
        assert_eq!(federated, Outcome::FederatedZone);
        assert!(meshes(&store).await.is_empty());
        // Nothing was recorded: turning the setting off later still creates the mesh.
        assert_eq!(apply(&store, &creds, Role::Zone, ON, now).await.unwrap(), Outcome::Created);
    }
}
