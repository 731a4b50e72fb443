//! The `default` Mesh of a new deployment: created on the first start with its signing key (so a
//! dataplane token can be generated at once), once per deployment, once between instances that
//! start together on one PostgreSQL, and never with `KUMA_DEFAULTS_SKIP_MESH_CREATION`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::http_client;
use store::testing::postgres::{self, TestPostgres};
use testkit::Zone;

async fn meshes(zone: &Zone) -> Vec<String> {
    let list: Value = http_client()
        .get(format!("{}/meshes", zone.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["items"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().into()).collect()
}

async fn dataplane_token(zone: &Zone) -> StatusCode {
    let body = json!({"name": "web-1", "mesh": "default", "validFor": "1h"});
    let url = format!("{}/tokens/dataplane", zone.api);
    http_client().post(url).json(&body).send().await.unwrap().status()
}

#[tokio::test]
async fn a_fresh_zone_has_the_default_mesh_until_it_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path(), &[]).await;
    assert_eq!(meshes(&zone).await, ["default"]);
    assert_eq!(dataplane_token(&zone).await, StatusCode::OK);
    let resp = http_client().delete(format!("{}/meshes/default", zone.api)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    zone.stop().await;

    let zone = Zone::start(dir.path(), &[]).await;
    assert!(meshes(&zone).await.is_empty(), "the deleted default mesh came back on restart");
    zone.stop().await;
}

#[tokio::test]
async fn skip_mesh_creation_creates_no_mesh() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path(), &[("KUMA_DEFAULTS_SKIP_MESH_CREATION", "true")]).await;
    assert!(meshes(&zone).await.is_empty());
    zone.stop().await;
}

#[tokio::test]
async fn zones_starting_together_on_postgres_make_one_default_mesh() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let db = pg.create_database().await.unwrap();
    let port = pg.port().to_string();
    let ca = pg.ca_path().to_str().unwrap().to_owned();
    let env = [
        ("KUMA_STORE_TYPE", "postgres"),
        ("KUMA_STORE_POSTGRES_HOST", "localhost"),
        ("KUMA_STORE_POSTGRES_PORT", port.as_str()),
        ("KUMA_STORE_POSTGRES_USER", postgres::USER),
        ("KUMA_STORE_POSTGRES_PASSWORD", postgres::PASSWORD),
        ("KUMA_STORE_POSTGRES_DB_NAME", db.as_str()),
        ("KUMA_STORE_POSTGRES_TLS_MODE", "verifyFull"),
        ("KUMA_STORE_POSTGRES_TLS_CA_PATH", ca.as_str()),
    ];
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (one, two) = tokio::join!(Zone::start(a.path(), &env), Zone::start(b.path(), &env));
    assert_eq!(meshes(&one).await, ["default"]);
    let keys = one.store.list("Secret", Some("default")).await.unwrap();
    let names: Vec<&str> = keys.iter().map(|r| r.key.name.as_str()).collect();
    assert_eq!(names, ["dataplane-token-signing-key-default-1"]);
    assert_eq!(dataplane_token(&two).await, StatusCode::OK);
    one.stop().await;
    two.stop().await;
}
