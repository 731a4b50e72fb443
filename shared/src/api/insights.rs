//! `GET /global-insight`, `/mesh-insights[/{mesh}]`, `/service-insights`,
//! `/meshes/{mesh}/service-insights[/{name}]` (read from the latest insight snapshot, never from
//! the store), `/_resources` (the types this control plane serves) and `/who-am-i`.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Json;
use axum::routing::get;
use kuma_core::resources::{Origin, ResourceType, Scope};
use serde_json::{Value, json};

use super::auth::User;
use super::error::ApiError;
use super::{ApiState, Role};

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/global-insight", get(global))
        .route("/mesh-insights", get(list_meshes))
        .route("/mesh-insights/{mesh}", get(get_mesh))
        .route("/service-insights", get(list_all_services))
        .route("/meshes/{mesh}/service-insights", get(list_services))
        .route("/meshes/{mesh}/service-insights/{name}", get(get_service))
        .route("/_resources", get(resources))
        .route("/who-am-i", get(who_am_i))
}

fn list(items: Vec<Value>) -> Json<Value> {
    Json(json!({ "total": items.len(), "items": items, "next": null }))
}

async fn global(State(state): State<ApiState>) -> Json<Value> {
    Json(state.insights().snapshot().global.clone())
}

async fn list_meshes(State(state): State<ApiState>) -> Json<Value> {
    list(state.insights().snapshot().meshes.values().cloned().collect())
}

async fn get_mesh(
    State(state): State<ApiState>,
    Path(mesh): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.insights().snapshot().meshes.get(&mesh).cloned().map(Json).ok_or(ApiError::NotFound)
}

async fn list_all_services(State(state): State<ApiState>) -> Json<Value> {
    list(state.insights().snapshot().services.values().flatten().cloned().collect())
}

async fn list_services(
    State(state): State<ApiState>,
    Path(mesh): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.insights().snapshot();
    snapshot.services.get(&mesh).cloned().map(list).ok_or(ApiError::NotFound)
}

async fn get_service(
    State(state): State<ApiState>,
    Path((mesh, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.insights().snapshot();
    let services = snapshot.services.get(&mesh).ok_or(ApiError::NotFound)?;
    services
        .iter()
        .find(|s| s["name"] == name.as_str())
        .cloned()
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Kuma's `_resources`: each type with its scope, path and whether this control plane accepts
/// writes to it.
async fn resources(State(state): State<ApiState>) -> Json<Value> {
    let role = state.config().role;
    let read_only = state.config().read_only;
    let items: Vec<Value> = ResourceType::ALL
        .into_iter()
        .map(|ty| {
            let refused = match (role, ty.origin()) {
                (Role::Global, Origin::Zone) | (Role::FederatedZone, Origin::Global) => true,
                _ => read_only,
            };
            json!({
                "name": ty.name(),
                "scope": match ty.scope() { Scope::Global => "Global", Scope::Mesh => "Mesh" },
                "readOnly": refused,
                "path": ty.plural(),
                "singularDisplayName": ty.singular(),
                "pluralDisplayName": ty.plural(),
            })
        })
        .collect();
    Json(json!({ "resources": items }))
}

async fn who_am_i(user: User) -> Json<Value> {
    Json(json!({ "name": user.name, "groups": user.groups }))
}
