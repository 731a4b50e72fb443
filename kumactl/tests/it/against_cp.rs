//! kumactl against a real control plane (the zone app in-process, HTTPS on a port the OS chose),
//! on the default SQLite store and on PostgreSQL with verifyFull TLS.

use std::path::Path;

use serde_json::Value;
use store::testing::postgres::{self, TestPostgres};
use testkit::Zone;

use crate::helpers::{connect, kumactl, stderr, stdout};

const MESH_AND_PERMISSION: &str = "\
type: Mesh
name: demo
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    dpCert:
      rotation:
        expiration: 1d
---
type: TrafficPermission
mesh: demo
name: allow-all
sources:
- match:
    kuma.io/service: '*'
destinations:
- match:
    kuma.io/service: '*'
";

async fn apply(dir: &Path, yaml: &str) -> std::process::Output {
    let file = dir.join("resources.yaml");
    std::fs::write(&file, yaml).unwrap();
    kumactl(dir, &["apply", "-f", file.to_str().unwrap()]).await
}

/// Applies a mesh and a permission, restarts the CP on the same work dir and store, and checks
/// that both are still there.
async fn mesh_survives_restart(extra: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().join("work");
    let ca = work_dir.join("kuma-cp.crt");

    let cp = Zone::start(&work_dir, extra).await;
    connect(dir.path(), &cp, &ca).await;
    let out = apply(dir.path(), MESH_AND_PERMISSION).await;
    assert!(out.status.success(), "{}", stderr(&out));
    cp.stop().await;

    let cp = Zone::start(&work_dir, extra).await;
    connect(dir.path(), &cp, &ca).await;
    let out = kumactl(dir.path(), &["get", "meshes"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.lines().any(|l| l.starts_with("demo ") && l.contains("builtin/ca-1")), "{table}");

    let out = kumactl(
        dir.path(),
        &["get", "traffic-permission", "allow-all", "-m", "demo", "-o", "json"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let tp: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(tp["sources"][0]["match"]["kuma.io/service"], "*");
    cp.stop().await;
}

#[tokio::test]
async fn mesh_applied_over_https_survives_a_restart_on_the_default_store() {
    mesh_survives_restart(&[]).await;
}

#[tokio::test]
async fn mesh_applied_over_https_survives_a_restart_on_postgres() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let db = pg.create_database().await.unwrap();
    let port = pg.port().to_string();
    let ca = pg.ca_path().to_str().unwrap().to_owned();
    let extra = [
        ("KUMA_STORE_TYPE", "postgres"),
        ("KUMA_STORE_POSTGRES_HOST", "localhost"),
        ("KUMA_STORE_POSTGRES_PORT", port.as_str()),
        ("KUMA_STORE_POSTGRES_USER", postgres::USER),
        ("KUMA_STORE_POSTGRES_PASSWORD", postgres::PASSWORD),
        ("KUMA_STORE_POSTGRES_DB_NAME", db.as_str()),
        ("KUMA_STORE_POSTGRES_TLS_MODE", "verifyFull"),
        ("KUMA_STORE_POSTGRES_TLS_CA_PATH", ca.as_str()),
    ];
    mesh_survives_restart(&extra).await;
}

#[tokio::test]
async fn invalid_document_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().join("work");
    let cp = Zone::start(&work_dir, &[]).await;
    connect(dir.path(), &cp, &work_dir.join("kuma-cp.crt")).await;

    let bad = MESH_AND_PERMISSION.replace("expiration: 1d", "expiration: 1 day");
    let out = apply(dir.path(), &bad).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("dpCert.rotation.expiration"), "{err}");
    assert!(err.contains("has to be a valid format"), "{err}");

    let out = kumactl(dir.path(), &["get", "meshes", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    // Only the default mesh every deployment starts with.
    assert_eq!(list["total"], 1, "nothing may be stored: {list}");
    assert_eq!(list["items"][0]["name"], "default", "nothing may be stored: {list}");
    cp.stop().await;
}

#[tokio::test]
async fn dataplane_is_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().join("work");
    let cp = Zone::start(&work_dir, &[]).await;
    connect(dir.path(), &cp, &work_dir.join("kuma-cp.crt")).await;

    let yaml = "\
type: Mesh
name: default
---
type: Dataplane
mesh: default
name: web-1
networking:
  address: 127.0.0.1
  inbound:
  - port: 8080
    servicePort: 80
    tags:
      kuma.io/service: web
      version: v1
";
    let out = apply(dir.path(), yaml).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kumactl(dir.path(), &["get", "dataplanes"]).await;
    let table = stdout(&out);
    assert!(table.lines().any(|l| l.starts_with("default ") && l.contains("web-1")), "{table}");

    let out = kumactl(dir.path(), &["delete", "dataplane", "web-1", "-m", "default"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "deleted Dataplane \"web-1\"");
    let out = kumactl(dir.path(), &["get", "dataplanes", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list["total"], 0);

    let out = kumactl(dir.path(), &["delete", "dataplane", "web-1", "-m", "default"]).await;
    assert!(!out.status.success());
    cp.stop().await;
}
