//! `kumactl inspect zones` and `get zone-insights` against a real global with one federated zone
//! (both in-process, KDS over TLS on loopback): the zone shows `Online` while connected and
//! `Offline` once it stops.

use std::path::Path;
use std::time::Duration;

use kuma_core::shutdown::{self, Trigger};
use serde_json::Value;
use shared::testing::cp::{config, eventually};
use tokio::task::JoinHandle;

use crate::helpers::{kumactl, stderr, stdout};

const WAIT: Duration = Duration::from_secs(20);
const ZONE: &str = "zone-1";

/// A control plane app running in a task until `stop`.
struct Running {
    trigger: Trigger,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(self) {
        self.trigger.fire();
        self.task.await.unwrap().unwrap();
    }
}

/// Runs kumactl with `args`, asserting success, and returns its stdout.
async fn ok(dir: &Path, args: &[&str]) -> String {
    let out = kumactl(dir, args).await;
    assert!(out.status.success(), "kumactl {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// The STATUS column of `zone`'s row in `kumactl inspect zones`, if it has a row.
async fn status(dir: &Path, zone: &str) -> Option<String> {
    let table = ok(dir, &["inspect", "zones"]).await;
    let row = table.lines().find(|l| l.split_whitespace().next() == Some(zone))?;
    row.split_whitespace().nth(1).map(str::to_owned)
}

async fn wait_for_status(dir: &Path, zone: &str, want: &str) {
    eventually(&format!("{zone} to be {want}"), WAIT, || async {
        (status(dir, zone).await.as_deref() == Some(want)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn inspect_zones_follows_a_zone_connecting_and_leaving() {
    let dir = tempfile::tempdir().unwrap();
    let cli = dir.path();
    let global_dir = cli.join("global");

    let app = global::App::build(config(&global_dir, &[("KUMA_MODE", "global")])).await.unwrap();
    let addrs = app.addresses();
    let (trigger, shutdown) = shutdown::channel();
    let global = Running { trigger, task: tokio::spawn(app.run(shutdown)) };
    let api = format!("http://localhost:{}", addrs.runtime.http.unwrap().port());
    ok(cli, &["config", "control-planes", "add", "--name", "global", "--address", &api]).await;

    // Before any zone connects the global knows none.
    let table = ok(cli, &["inspect", "zones"]).await;
    assert_eq!(table.lines().count(), 1, "only the header: {table}");
    assert!(table.starts_with("NAME   STATUS   LAST CONNECTED AGO   "), "{table}");

    let token =
        ok(cli, &["generate", "zone-token", "--zone", ZONE, "--scope", "cp", "--valid-for", "1h"])
            .await;
    let token_path = cli.join("zone.token");
    std::fs::write(&token_path, token.trim_end()).unwrap();
    let kds = format!("grpcs://localhost:{}", addrs.kds.port());
    let ca = global_dir.join("kuma-cp.crt");
    let env = [
        ("KUMA_MULTIZONE_ZONE_NAME", ZONE),
        ("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", kds.as_str()),
        ("KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE", ca.to_str().unwrap()),
        ("KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH", token_path.to_str().unwrap()),
        ("KUMA_GENERAL_RESILIENT_COMPONENT_BASE_BACKOFF", "100ms"),
        ("KUMA_GENERAL_RESILIENT_COMPONENT_MAX_BACKOFF", "500ms"),
    ];
    let app = zone::App::build(config(&cli.join(ZONE), &env)).await.unwrap();
    let (trigger, shutdown) = shutdown::channel();
    let zone = Running { trigger, task: tokio::spawn(app.run(shutdown)) };

    wait_for_status(cli, ZONE, "Online").await;
    let table = ok(cli, &["inspect", "zones"]).await;
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    // Connected moments ago; the untracked counters print `-`; the zone reported its version.
    assert!(row[2].ends_with('s'), "LAST CONNECTED AGO in seconds: {table}");
    assert_eq!(row[3..], ["-", "-", "-", env!("CARGO_PKG_VERSION")], "{table}");

    let one: Value =
        serde_json::from_str(&ok(cli, &["inspect", "zone", ZONE, "-o", "json"]).await).unwrap();
    assert_eq!(one["type"], "ZoneOverview");
    assert_eq!(one["name"], ZONE);
    assert_eq!(one["zone"]["enabled"], true);
    let subscriptions = one["zoneInsight"]["subscriptions"].as_array().unwrap();
    let newest = subscriptions.last().unwrap();
    assert_eq!(newest["auth"], "zoneToken", "{one}");
    assert!(newest.get("disconnectTime").is_none(), "{one}");

    let insights = ok(cli, &["get", "zone-insights"]).await;
    assert!(insights.starts_with("NAME     AGE\nzone-1   "), "{insights}");
    let yaml = ok(cli, &["get", "zone-insight", ZONE, "-o", "yaml"]).await;
    let insight: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(insight["type"], "ZoneInsight");
    assert_eq!(insight["subscriptions"].as_array().map(Vec::len), Some(subscriptions.len()));

    for args in [["inspect", "zone", "nope"], ["get", "zone-insight", "nope"]] {
        let out = kumactl(cli, &args).await;
        assert!(!out.status.success());
        let kind = if args[0] == "inspect" { "Zone" } else { "ZoneInsight" };
        assert_eq!(stderr(&out), format!("Error: there is no {kind} with name \"nope\"\n"));
    }

    zone.stop().await;
    wait_for_status(cli, ZONE, "Offline").await;
    let one: Value =
        serde_json::from_str(&ok(cli, &["inspect", "zone", ZONE, "-o", "json"]).await).unwrap();
    let subscriptions = one["zoneInsight"]["subscriptions"].as_array().unwrap();
    assert!(subscriptions.iter().all(|s| s["disconnectTime"].is_string()), "{one}");

    global.stop().await;
}
