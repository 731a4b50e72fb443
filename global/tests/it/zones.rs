//! The zones registry's routes, which only the global serves: a zone joined with its insight.

use std::collections::BTreeMap;

use kuma_core::resources::ResourceType;
use kuma_core::resources::insight::ZONE_INSIGHT_KIND;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::http_client;
use store::Key;
use testkit::Global;

async fn get(url: String) -> (StatusCode, Value) {
    let resp = http_client().get(url).send().await.unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn zone_overview_joins_zones_and_insights() {
    let dir = tempfile::tempdir().unwrap();
    let global = Global::start(dir.path(), &[]).await;
    let zone = Key::resource(ResourceType::Zone, "", "zone-1");
    global.store.create(zone, json!({"enabled": true}), BTreeMap::new()).await.unwrap();
    let insight = json!({"subscriptions": [{"id": "s1", "globalInstanceId": "g",
        "connectTime": "2026-01-01T00:00:00Z"}]});
    let key = Key::global(ZONE_INSIGHT_KIND, "zone-1");
    global.store.create(key, insight, BTreeMap::new()).await.unwrap();

    let (status, body) = get(format!("{}/zones/_overview", global.api)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["name"], "zone-1");
    assert_eq!(body["items"][0]["zone"]["enabled"], true);
    assert_eq!(body["items"][0]["zoneInsight"]["subscriptions"][0]["id"], "s1");
    let (_, body) = get(format!("{}/zone-insights/zone-1", global.api)).await;
    assert_eq!(body["type"], "ZoneInsight");
    let (_, body) = get(format!("{}/zones/zone-1", global.api)).await;
    assert_eq!(body["type"], "Zone");
    let (status, _) = get(format!("{}/zones/nope/_overview", global.api)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    global.stop().await;
}

#[tokio::test]
async fn a_zone_control_plane_does_not_serve_the_zones_registry() {
    let dir = tempfile::tempdir().unwrap();
    let zone = testkit::Zone::start(dir.path(), &[]).await;
    let (status, _) = get(format!("{}/zones/_overview", zone.api)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(format!("{}/zone-insights", zone.api)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    zone.stop().await;
}
