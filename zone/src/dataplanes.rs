//! `GET /meshes/{mesh}/dataplanes/_overview` and `/meshes/{mesh}/dataplanes/{name}/_overview`:
//! each Dataplane with the `DataplaneInsight` the zone's DP server keeps (sessions and the last
//! certificate). Read-only; the insight records are written by the DP server alone. Only a zone
//! serves these routes (added to the runtime's API through its extension point).
//!
//! The static `_overview` segment wins over `/meshes/{mesh}/{plural}/{name}` in the router, so a
//! Dataplane cannot be read under the name `_overview` (Kuma has the same overlap).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Json;
use axum::routing::get;
use kuma_core::resources::ResourceType;
use kuma_core::resources::insight::{DATAPLANE_INSIGHT_KIND, rfc3339};
use serde_json::{Value, json};
use store::{self, Key, Record};

use shared::api::{ApiError, ApiState};

/// The dataplane overview routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/meshes/{mesh}/dataplanes/_overview", get(list_overviews))
        .route("/meshes/{mesh}/dataplanes/{name}/_overview", get(get_overview))
        .route("/meshes/{mesh}/dataplanes+insights", get(list_overviews))
        .route("/meshes/{mesh}/dataplanes+insights/{name}", get(get_overview))
}

async fn list_overviews(
    State(state): State<ApiState>,
    Path(mesh): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut items = Vec::new();
    for dataplane in state.store().list(ResourceType::Dataplane.name(), Some(&mesh)).await? {
        items.push(overview(&state, dataplane).await?);
    }
    Ok(Json(json!({ "total": items.len(), "items": items, "next": null })))
}

async fn get_overview(
    State(state): State<ApiState>,
    Path((mesh, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let key = Key::mesh_scoped(ResourceType::Dataplane.name(), &mesh, &name);
    let dataplane = state.store().get(&key).await?;
    Ok(Json(overview(&state, dataplane).await?))
}

async fn overview(state: &ApiState, dataplane: Record) -> Result<Value, ApiError> {
    let key = Key::mesh_scoped(DATAPLANE_INSIGHT_KIND, &dataplane.key.mesh, &dataplane.key.name);
    let insight = match state.store().get(&key).await {
        Ok(record) => record.spec,
        Err(store::Error::NotFound { .. }) => json!({}),
        Err(err) => return Err(err.into()),
    };
    let mut out = json!({
        "type": "DataplaneOverview",
        "mesh": dataplane.key.mesh,
        "name": dataplane.key.name,
        "creationTime": rfc3339(dataplane.creation_time),
        "modificationTime": rfc3339(dataplane.modification_time),
        "dataplane": dataplane.spec,
        "dataplaneInsight": insight,
    });
    if !dataplane.labels.is_empty() {
        out["labels"] = json!(dataplane.labels);
    }
    Ok(out)
}
