use std::collections::BTreeMap;
use std::time::Duration;

use kuma_core::shutdown;
use serde_json::json;

use super::*;

const WAIT: Duration = Duration::from_secs(5);

async fn put(store: &Store, key: Key, spec: Value) {
    match store.get(&key).await {
        Ok(r) => drop(store.update(key, spec, BTreeMap::new(), r.version).await.unwrap()),
        Err(_) => drop(store.create(key, spec, BTreeMap::new()).await.unwrap()),
    }
}

fn dataplane(service: &str, ready: [bool; 2]) -> Value {
    json!({"networking": {"address": "10.0.0.1", "inbound": [
        {"port": 8080, "tags": {"kuma.io/service": service}, "health": {"ready": ready[0]}},
        {"port": 8081, "tags": {"kuma.io/service": service}, "health": {"ready": ready[1]}}
    ]}})
}

fn connected(kuma_dp: &str, issued: &str) -> Value {
    json!({
        "subscriptions": [{"id": "s", "connectTime": "2026-12-06T10:00:00Z",
                           "version": {"kumaDp": {"version": kuma_dp}}}],
        "mTLS": {"issuedBackend": issued, "supportedBackends": [issued]}
    })
}

/// Waits until the published snapshot satisfies `check`.
async fn until(
    insights: &Insights,
    what: &str,
    check: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let snapshot = insights.snapshot();
        if check(&snapshot) {
            return snapshot;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {snapshot:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn insights_follow_the_change_feed() {
    let store = Store::memory();
    put(&store, Key::global("Mesh", "default"), json!({})).await;
    let (insights, feed) = Insights::start(store.clone(), Role::Zone).await.unwrap();
    assert_eq!(insights.snapshot().meshes["default"]["dataplanes"]["total"], 0);
    let (trigger, stop) = shutdown::channel();
    let task = tokio::spawn(feed.run(stop));

    let dp = |name: &str| Key::mesh_scoped("Dataplane", "default", name);
    let insight = |name: &str| Key::mesh_scoped(DATAPLANE_INSIGHT_KIND, "default", name);
    put(&store, dp("web-1"), dataplane("web", [true, true])).await;
    put(&store, dp("web-2"), dataplane("web", [true, false])).await;
    put(&store, dp("db-1"), dataplane("db", [true, true])).await;
    put(&store, insight("web-1"), connected("0.1.0", "ca-1")).await;
    put(&store, insight("web-2"), connected("0.1.0", "ca-1")).await;
    put(&store, Key::mesh_scoped("TrafficPermission", "default", "tp"), json!({})).await;

    let s = until(&insights, "three proxies and a policy", |s| {
        s.meshes["default"]["dataplanes"]["total"] == 3
            && s.meshes["default"]["policies"]["TrafficPermission"]["total"] == 1
            && s.meshes["default"]["dataplanes"]["partiallyDegraded"] == 1
    })
    .await;
    let mesh = &s.meshes["default"];
    assert_eq!(mesh["type"], "MeshInsight");
    assert_eq!(
        mesh["dataplanes"],
        json!({"total": 3, "online": 1, "offline": 1, "partiallyDegraded": 1})
    );
    assert_eq!(mesh["dpVersions"]["kumaDp"]["0.1.0"]["total"], 2);
    assert_eq!(mesh["dpVersions"]["kumaDp"]["unknown"]["total"], 1);
    assert_eq!(mesh["mTLS"]["issuedBackends"]["ca-1"]["total"], 2);
    assert_eq!(mesh["services"], json!({"total": 2, "internal": 2, "external": 0}));
    let services = &s.services["default"];
    let names: Vec<&str> = services.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["db", "web"]);
    assert_eq!(services[0]["status"], "offline");
    assert_eq!(services[1]["status"], "partially_degraded");
    assert_eq!(services[1]["dataplanes"], json!({"online": 1, "offline": 1, "total": 2}));
    assert_eq!(s.global["dataplanes"]["standard"]["total"], 3);
    assert_eq!(s.global["meshes"]["total"], 1);
    assert_eq!(s.global["policies"]["total"], 1);
    assert_eq!(s.global["services"]["internal"]["total"], 2);

    // A delete is followed too, and so is a resync (writes the feed did not carry).
    store.delete(&dp("db-1")).await.unwrap();
    until(&insights, "db-1 gone", |s| s.meshes["default"]["dataplanes"]["total"] == 2).await;
    store.delete_mesh("default").await.unwrap();
    until(&insights, "the mesh gone", |s| s.meshes.is_empty()).await;
    put(&store, Key::global("Mesh", "other"), json!({})).await;
    store.resync();
    until(&insights, "the other mesh", |s| s.meshes.contains_key("other")).await;

    trigger.fire();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_global_counts_its_zones_online() {
    let store = Store::memory();
    put(&store, Key::global("Zone", "zone-1"), json!({"enabled": true})).await;
    put(&store, Key::global("Zone", "zone-2"), json!({"enabled": false})).await;
    let online = json!({"subscriptions": [{"id": "a", "globalInstanceId": "g",
                                           "connectTime": "2026-12-06T10:00:00Z"}]});
    put(&store, Key::global(ZONE_INSIGHT_KIND, "zone-1"), online.clone()).await;
    put(&store, Key::global(ZONE_INSIGHT_KIND, "zone-2"), online).await;
    let (insights, _feed) = Insights::start(store.clone(), Role::Global).await.unwrap();
    let zones = &insights.snapshot().global["zones"];
    assert_eq!(zones["controlPlanes"], json!({"online": 1, "total": 2}));
    let (insights, _feed) = Insights::start(store, Role::Zone).await.unwrap();
    assert_eq!(insights.snapshot().global["zones"]["controlPlanes"]["total"], 0);
}

#[tokio::test]
async fn secrets_are_counted_but_their_data_is_not_kept() {
    let store = Store::memory();
    put(&store, Key::global("Mesh", "m"), json!({})).await;
    put(&store, Key::mesh_scoped("Secret", "m", "s"), json!({"data": "c2VjcmV0"})).await;
    let records = Records::load(&store).await.unwrap();
    assert_eq!(records.get("Secret", "m", "s").unwrap().spec, Value::Null);
    let (insights, _feed) = Insights::start(store, Role::Zone).await.unwrap();
    assert_eq!(insights.snapshot().meshes["m"]["resources"]["Secret"]["total"], 1);
    assert!(insights.snapshot().meshes["m"]["policies"].get("Secret").is_none());
}
