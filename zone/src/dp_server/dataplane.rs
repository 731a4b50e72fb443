//! The Dataplane a session serves: read from the store, or decoded from the proxy's
//! `resource_json` and stored. Only reads and writes the Dataplane itself; whether the proxy may
//! register or replace it is the session's decision.

use std::collections::BTreeMap;

use kuma_core::identity::Subject;
use kuma_core::resources::{self, DataplaneSpec, ResourceType, Spec};
use store::{self, Key, Store};
use tonic::Status;

/// A Dataplane resource.
#[derive(Debug, Clone)]
pub struct Dataplane {
    /// Its mesh.
    pub mesh: String,
    /// Its name.
    pub name: String,
    /// Its spec.
    pub spec: DataplaneSpec,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The stored version (0 when not stored yet).
    pub version: u64,
}

impl Dataplane {
    /// What the token is checked against.
    pub fn subject(&self) -> Subject<'_> {
        Subject { mesh: &self.mesh, name: &self.name, spec: &self.spec, labels: &self.labels }
    }
}

/// The stored Dataplane `mesh`/`name`, if any.
pub async fn get(store: &Store, mesh: &str, name: &str) -> Result<Option<Dataplane>, Status> {
    let key = Key::mesh_scoped(ResourceType::Dataplane.name(), mesh, name);
    let record = match store.get(&key).await {
        Ok(record) => record,
        Err(store::Error::NotFound { .. }) => return Ok(None),
        Err(err) => return Err(store_error(&err)),
    };
    match Spec::from_value(ResourceType::Dataplane, record.spec) {
        Ok(Spec::Dataplane(spec)) => Ok(Some(Dataplane {
            mesh: mesh.to_owned(),
            name: name.to_owned(),
            spec,
            labels: record.labels,
            version: record.version,
        })),
        _ => {
            tracing::error!(%key, "the stored Dataplane is not valid");
            Err(Status::internal("the stored Dataplane is not valid"))
        }
    }
}

/// Decodes `json` (Kuma's universal form), which must be the Dataplane `mesh`/`name`.
pub fn parse(json: &str, mesh: &str, name: &str) -> Result<Dataplane, Status> {
    let resource = decode(json, "Dataplane")?;
    let Spec::Dataplane(spec) = resource.spec else {
        return Err(Status::invalid_argument(format!(
            "unsupported proxy type {:?}",
            resource.resource_type().name()
        )));
    };
    let (got_mesh, got_name) = (resource.meta.mesh.unwrap_or_default(), resource.meta.name);
    if got_mesh != mesh || got_name != name {
        return Err(Status::invalid_argument(format!(
            "the Dataplane is {got_mesh}.{got_name}, but the proxy said it is {mesh}.{name}"
        )));
    }
    Ok(Dataplane { mesh: got_mesh, name: got_name, spec, labels: resource.meta.labels, version: 0 })
}

/// Stores `dp`: creates it (`expected` is `None`) or replaces version `expected`.
pub async fn upsert(
    store: &Store,
    dp: Dataplane,
    expected: Option<u64>,
) -> Result<Dataplane, Status> {
    let key = Key::mesh_scoped(ResourceType::Dataplane.name(), &dp.mesh, &dp.name);
    let spec = Spec::Dataplane(dp.spec.clone()).to_value();
    let written = match expected {
        None => store.create(key, spec, dp.labels.clone()).await,
        Some(version) => store.update(key, spec, dp.labels.clone(), version).await,
    };
    match written {
        Ok(record) => Ok(Dataplane { version: record.version, ..dp }),
        Err(err @ (store::Error::Conflict { .. } | store::Error::AlreadyExists { .. })) => {
            Err(Status::aborted(format!("the Dataplane changed while registering it: {err}")))
        }
        Err(err) => Err(store_error(&err)),
    }
}

/// Decodes and validates the resource a proxy sent (Kuma's universal JSON); `what` names the
/// expected type in the error.
pub(super) fn decode(json: &str, what: &str) -> Result<resources::Resource, Status> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|err| Status::invalid_argument(format!("the {what} is not valid JSON: {err}")))?;
    resources::decode(value)
        .map_err(|err| Status::invalid_argument(format!("the {what} is not valid: {err}")))
}

pub(super) fn store_error(err: &store::Error) -> Status {
    tracing::error!(error = %err, "could not access the store");
    Status::unavailable("could not access the store")
}
