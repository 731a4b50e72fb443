//! `GET /zone-insights[/{name}]` and `GET /zones/_overview`, `/zones/{name}/_overview`: the zones
//! registry the global keeps. Only the global serves these routes (added to the runtime's API
//! through its extension point).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Json;
use axum::routing::get;
use kuma_core::resources::ResourceType;
use serde_json::{Map, Value, json};
use store::{self, Key, Record};

use shared::api::{ApiError, ApiState};

use super::{ZONE_INSIGHT_KIND, ZoneInsight, rfc3339};

/// The routes of the zones registry.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/zone-insights", get(list_insights))
        .route("/zone-insights/{name}", get(get_insight))
        .route("/zones/_overview", get(list_overviews))
        .route("/zones/{name}/_overview", get(get_overview))
        .route("/zones+insights", get(list_overviews))
}

async fn list_insights(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let records = state.store().list(ZONE_INSIGHT_KIND, None).await?;
    let items: Vec<Value> = records.iter().map(insight_json).collect();
    Ok(Json(json!({ "total": items.len(), "items": items, "next": null })))
}

async fn get_insight(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = state.store().get(&Key::global(ZONE_INSIGHT_KIND, &name)).await?;
    Ok(Json(insight_json(&record)))
}

async fn list_overviews(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let mut items = Vec::new();
    for zone in state.store().list(ResourceType::Zone.name(), None).await? {
        items.push(overview(&state, zone).await?);
    }
    Ok(Json(json!({ "total": items.len(), "items": items, "next": null })))
}

async fn get_overview(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let zone = state.store().get(&Key::global(ResourceType::Zone.name(), &name)).await?;
    Ok(Json(overview(&state, zone).await?))
}

async fn overview(state: &ApiState, zone: Record) -> Result<Value, ApiError> {
    let insight = match state.store().get(&Key::global(ZONE_INSIGHT_KIND, &zone.key.name)).await {
        Ok(record) => record.spec,
        Err(store::Error::NotFound { .. }) => json!({}),
        Err(err) => return Err(err.into()),
    };
    Ok(json!({
        "type": "ZoneOverview",
        "name": zone.key.name,
        "creationTime": rfc3339(zone.creation_time),
        "modificationTime": rfc3339(zone.modification_time),
        "zone": zone.spec,
        "zoneInsight": insight,
    }))
}

fn insight_json(record: &Record) -> Value {
    let insight: ZoneInsight = serde_json::from_value(record.spec.clone()).unwrap_or_default();
    let mut out = Map::new();
    out.insert("type".into(), json!("ZoneInsight"));
    out.insert("name".into(), json!(record.key.name));
    out.insert("creationTime".into(), json!(rfc3339(record.creation_time)));
    out.insert("modificationTime".into(), json!(rfc3339(record.modification_time)));
    if let Ok(Value::Object(fields)) = serde_json::to_value(insight) {
        out.extend(fields);
    }
    Value::Object(out)
}
