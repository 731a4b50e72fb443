//! Errors retrying cannot fix stop kuma-dp at once, with exit code 78 and a message that says
//! what to change: a token file that is not there (with the OS error), a token made for another
//! mesh (naming it), and a `--cp-address` port that is not a DP server.

use serde_json::json;

use crate::helpers::{KumaDp, Zone, as_strs, web_args};

/// kuma-dp's exit code for a setting only the operator can fix.
const EX_CONFIG: i32 = 78;

async fn stops(dp: &mut KumaDp, needle: &str) -> String {
    let line = dp.line_with(needle).await;
    assert!(line.starts_with("Error: "), "{line}");
    assert_eq!(dp.exit().await.code(), Some(EX_CONFIG), "{line}");
    line
}

#[tokio::test]
async fn a_missing_token_file_stops_kuma_dp_with_the_os_error() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(Some("1h")).await;
    let mut args = web_args(&zone, dir.path()).await;
    let missing = dir.path().join("no-such.token");
    let at = args.iter().position(|a| a == "--dataplane-token-file").unwrap();
    args[at + 1] = missing.to_str().unwrap().to_owned();
    let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
    let line = stops(&mut dp, "the dataplane token cannot be read").await;
    assert!(line.contains(&format!("reading the dataplane token file {}", missing.display())));
    assert!(line.contains("No such file or directory (os error 2)"), "{line}");
    zone.stop().await;
}

#[tokio::test]
async fn a_token_for_another_mesh_stops_kuma_dp_naming_that_mesh() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(Some("1h")).await;
    let args = web_args(&zone, dir.path()).await;
    let other = json!({"type": "Mesh", "name": "other"});
    let url = format!("{}/meshes/other", zone.api);
    let resp = shared::testing::cp::http_client().put(url).json(&other).send().await.unwrap();
    assert!(resp.status().is_success());
    let token = dir.path().join("token");
    let body = json!({"name": "web-01", "mesh": "other"});
    zone.token_from("/tokens/dataplane", body, &token).await;
    let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
    stops(
        &mut dp,
        "the dataplane token is for mesh \"other\", but this proxy is in mesh \"default\"",
    )
    .await;
    zone.stop().await;
}

#[tokio::test]
async fn a_port_that_is_not_a_dp_server_stops_kuma_dp() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(&dir.path().join("zone")).await;
    zone.mesh(Some("1h")).await;
    let args = web_args(&zone, dir.path()).await;
    let ports = [
        (zone.addresses.http.unwrap().port(), "answered in plain text, not TLS"),
        (zone.addresses.https.unwrap().port(), "the server answered HTTP 405"),
    ];
    for (port, why) in ports {
        let mut args = args.clone();
        let at = args.iter().position(|a| a == "--cp-address").unwrap();
        args[at + 1] = format!("https://localhost:{port}");
        let mut dp = KumaDp::start(dir.path(), &as_strs(&args));
        let line = stops(&mut dp, "is not a DP server").await;
        assert!(line.contains(why), "{line}");
        assert!(line.contains("check the port of --cp-address (the DP server listens on 5678"));
    }
    zone.stop().await;
}
