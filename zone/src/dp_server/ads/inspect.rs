//! `GET /meshes/{mesh}/dataplanes/{name}/xds`: what this zone control plane last generated for
//! a connected proxy, in Envoy's config dump shape with the versions it was sent with (what
//! `kumactl inspect dataplane NAME --type=config-dump` prints). No secrets are in it: they
//! never reach the control plane. A proxy without an ADS stream here is not found.

use axum::Router;
use axum::extract::Path;
use axum::response::Json;
use axum::routing::get;
use serde_json::Value;
use shared::api::ApiError;

use super::Snapshots;
use crate::xds::{Snapshot, Versions, XdsType, config_dump};

/// The route, over the DP server's snapshots (any router state: the snapshots go with the
/// handler).
pub fn routes<S: Clone + Send + Sync + 'static>(snapshots: Snapshots) -> Router<S> {
    let handler = move |path: Path<(String, String)>| dump(snapshots.clone(), path);
    Router::new().route("/meshes/{mesh}/dataplanes/{name}/xds", get(handler))
}

async fn dump(
    snapshots: Snapshots,
    Path((mesh, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = snapshots
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&(mesh, name))
        .map(|(_, snapshot)| snapshot.clone())
        .ok_or(ApiError::NotFound)?;
    let dump = config_dump(&snapshot.resources, &SnapshotVersions(&snapshot))
        .map_err(|err| ApiError::Internal(Box::new(err)))?;
    Ok(Json(dump))
}

struct SnapshotVersions<'a>(&'a Snapshot);

impl Versions for SnapshotVersions<'_> {
    fn version(&self, type_url: &str, name: &str) -> String {
        XdsType::from_url(type_url)
            .and_then(|ty| self.0.version(ty, name))
            .unwrap_or_default()
            .to_owned()
    }
}
