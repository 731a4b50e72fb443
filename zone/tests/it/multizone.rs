//! A global and zones in one process, talking KDS over TLS on loopback: sync both ways, and every
//! way a zone can be refused.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{eventually, http_client};
use testkit::{Global, Zone};

pub(super) const WAIT: Duration = Duration::from_secs(20);

/// A `cp` zone token for `zone`, issued by the global's API (we are its local admin).
pub(super) async fn zone_token(global: &Global, zone: &str, path: &Path) {
    let resp = http_client()
        .post(format!("{}/tokens/zone", global.api))
        .json(&json!({"zone": zone, "scope": ["cp"], "validFor": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    std::fs::write(path, resp.text().await.unwrap()).unwrap();
}

pub(super) fn zone_env<'a>(
    name: &'a str,
    kds: &'a str,
    ca: &'a str,
    token: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("KUMA_MULTIZONE_ZONE_NAME", name),
        ("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", kds),
        ("KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE", ca),
        ("KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH", token),
        // Retry quickly in tests.
        ("KUMA_GENERAL_RESILIENT_COMPONENT_BASE_BACKOFF", "100ms"),
        ("KUMA_GENERAL_RESILIENT_COMPONENT_MAX_BACKOFF", "500ms"),
    ]
}

async fn get(url: &str) -> (StatusCode, Value) {
    let resp = http_client().get(url).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub(super) async fn put(url: &str, body: Value) {
    let resp = http_client().put(url).json(&body).send().await.unwrap();
    assert!(resp.status().is_success(), "{url}: {} {}", resp.status(), resp.text().await.unwrap());
}

pub(super) async fn kds_status(zone: &Zone) -> Value {
    get(&format!("{}/status/kds", zone.api)).await.1
}

async fn wait_for_error(zone: &Zone, needle: &str) -> String {
    eventually(&format!("the zone to report {needle:?}"), WAIT, || async {
        let status = kds_status(zone).await;
        let error = status["lastError"].as_str().unwrap_or_default().to_owned();
        if !error.is_empty() && !error.contains(needle) {
            eprintln!("zone reports: {error}");
        }
        error.contains(needle).then_some(error)
    })
    .await
}

/// A global and the zones `zone-1` and `zone-2`, each with a `cp` token minted on the global.
async fn federation(dir: &Path) -> (Global, Vec<Zone>) {
    let global = Global::start(&dir.join("global"), &[]).await;
    let kds = global.kds_address();
    let ca = global.ca.to_str().unwrap().to_owned();
    let mut zones = Vec::new();
    for name in ["zone-1", "zone-2"] {
        let token = dir.join(format!("{name}.token"));
        zone_token(&global, name, &token).await;
        let env = zone_env(name, &kds, &ca, token.to_str().unwrap());
        zones.push(Zone::start(&dir.join(name), &env).await);
    }
    (global, zones)
}

#[tokio::test]
async fn policies_flow_down_and_dataplanes_flow_up() {
    let dir = tempfile::tempdir().unwrap();
    let (global, zones) = federation(dir.path()).await;
    for zone in &zones {
        eventually("the zone to connect", WAIT, || async {
            (kds_status(zone).await["state"] == "connected").then_some(())
        })
        .await;
    }

    put(&format!("{}/meshes/default", global.api), json!({"type": "Mesh", "name": "default"}))
        .await;
    let tp = json!({"type": "TrafficPermission", "mesh": "default", "name": "allow-all",
        "sources": [{"match": {"kuma.io/service": "*"}}], "destinations": [{"match": {"kuma.io/service": "*"}}]});
    put(&format!("{}/meshes/default/traffic-permissions/allow-all", global.api), tp).await;
    let mtp = json!({"type": "MeshTrafficPermission", "mesh": "default", "name": "allow-web",
        "spec": {"targetRef": {"kind": "Mesh"}, "from": [{"targetRef": {"kind": "MeshService",
            "name": "web"}, "default": {"action": "Allow"}}]}});
    put(&format!("{}/meshes/default/meshtrafficpermissions/allow-web", global.api), mtp.clone())
        .await;
    for zone in &zones {
        eventually("the mesh and the permissions to reach the zone", WAIT, || async {
            let (status, _) = get(&format!("{}/meshes/default", zone.api)).await;
            let (_, tps) = get(&format!("{}/meshes/default/traffic-permissions", zone.api)).await;
            let (_, mtps) =
                get(&format!("{}/meshes/default/meshtrafficpermissions", zone.api)).await;
            let synced = mtps["items"][0]["spec"] == mtp["spec"];
            (status == StatusCode::OK && tps["total"] == 1 && synced).then_some(())
        })
        .await;
    }
    // The mesh's signing key comes down too (its own type, so possibly a moment later), and then
    // the zone can issue DP tokens on its own.
    eventually("the mesh's signing key to reach the zone", WAIT, || async {
        let (_, secrets) = get(&format!("{}/meshes/default/secrets", zones[0].api)).await;
        secrets.to_string().contains("dataplane-token-signing-key-default-1").then_some(())
    })
    .await;
    let resp = http_client()
        .post(format!("{}/tokens/dataplane", zones[0].api))
        .json(&json!({"mesh": "default", "name": "web-1", "validFor": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "a federated zone issues DP tokens");

    let dp = json!({"type": "Dataplane", "mesh": "default", "name": "web-1",
        "networking": {"address": "127.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]}});
    put(&format!("{}/meshes/default/dataplanes/web-1", zones[0].api), dp).await;
    let synced = eventually("the dataplane to reach the global", WAIT, || async {
        let (_, list) = get(&format!("{}/meshes/default/dataplanes", global.api)).await;
        (list["total"] == 1).then(|| list["items"][0].clone())
    })
    .await;
    assert_eq!(synced["labels"]["kuma.io/zone"], "zone-1");
    assert_eq!(synced["labels"]["kuma.io/display-name"], "web-1");

    let (_, overview) = get(&format!("{}/zones/_overview", global.api)).await;
    assert_eq!(overview["total"], 2, "{overview}");
    let metrics = global_metrics(&global).await;
    let streams = metrics.lines().find_map(|l| l.strip_prefix("kuma_kds_zone_streams "));
    let streams: i64 = streams.expect("the stream gauge").trim().parse().unwrap();
    assert!(streams >= 2, "both zones' streams are counted: {streams}");

    // A zone writing global-provided types is refused; the mesh on the zone is read-only.
    let resp = http_client()
        .put(format!("{}/meshes/other", zones[1].api))
        .json(&json!({"type": "Mesh", "name": "other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);

    for zone in zones {
        zone.stop().await;
    }
    global.stop().await;
}

#[tokio::test]
async fn zones_are_refused_for_the_wrong_ca_a_missing_or_foreign_token_and_the_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let global = Global::start(&dir.path().join("global"), &[]).await;
    let kds = global.kds_address();
    let ca = global.ca.to_str().unwrap().to_owned();
    let token = dir.path().join("zone-1.token");
    zone_token(&global, "zone-1", &token).await;
    let token = token.to_str().unwrap().to_owned();

    // Wrong CA: another control plane's certificate.
    let other = dir.path().join("other");
    kuma_core::tls::load_or_generate_cp_cert(&other, time::OffsetDateTime::now_utc()).unwrap();
    let wrong_ca = other.join("kuma-cp.crt");
    let zone = Zone::start(
        &dir.path().join("z-ca"),
        &zone_env("zone-1", &kds, wrong_ca.to_str().unwrap(), &token),
    )
    .await;
    wait_for_error(&zone, "is not trusted").await;
    zone.stop().await;

    // A token for another zone name.
    let zone =
        Zone::start(&dir.path().join("z-foreign"), &zone_env("zone-2", &kds, &ca, &token)).await;
    let error = wait_for_error(&zone, "refused this zone's credentials").await;
    assert!(
        error.contains("zone from requestor: zone-2 is different than in token: zone-1"),
        "{error}"
    );
    zone.stop().await;

    // A wrong port: the global's plain HTTP API, then its HTTPS API (TLS, but no KDS).
    let http = format!("grpcs://localhost:{}", global.addresses.http.unwrap().port());
    let zone =
        Zone::start(&dir.path().join("z-http"), &zone_env("zone-1", &http, &ca, &token)).await;
    wait_for_error(&zone, "answered in plain text, not TLS: is this the right port?").await;
    zone.stop().await;
    let https = format!("grpcs://localhost:{}", global.addresses.https.unwrap().port());
    let zone =
        Zone::start(&dir.path().join("z-https"), &zone_env("zone-1", &https, &ca, &token)).await;
    let error = wait_for_error(&zone, "this address does not serve KDS").await;
    assert!(error.contains("is it the global's KDS port (5685"), "{error}");
    zone.stop().await;

    // No token at all.
    let env: Vec<_> = zone_env("zone-1", &kds, &ca, &token)
        .into_iter()
        .filter(|(k, _)| !k.contains("CP_TOKEN"))
        .collect();
    let zone = Zone::start(&dir.path().join("z-none"), &env).await;
    wait_for_error(&zone, "exactly 1 \"authorization\" header").await;
    zone.stop().await;

    let metrics = global_metrics(&global).await;
    assert!(metrics.contains("kuma_auth_failures_total{subject=\"zone\""), "{metrics}");
    global.stop().await;

    // The allowlist: only 127.0.0.2 may connect; the zone comes from 127.0.0.1.
    let dir2 = tempfile::tempdir().unwrap();
    let global =
        Global::start(dir2.path(), &[("KUMA_MULTIZONE_GLOBAL_KDS_ALLOWED_CIDRS", "127.0.0.2/32")])
            .await;
    let kds = global.kds_address();
    let ca = global.ca.to_str().unwrap().to_owned();
    let token = dir2.path().join("t");
    zone_token(&global, "zone-1", &token).await;
    let zone = Zone::start(
        &dir2.path().join("z"),
        &zone_env("zone-1", &kds, &ca, token.to_str().unwrap()),
    )
    .await;
    wait_for_error(&zone, "closed the connection before the TLS handshake").await;
    zone.stop().await;
    let metrics = global_metrics(&global).await;
    assert!(metrics.contains("kuma_connections_refused_total{listener=\"kds\"}"), "{metrics}");
    global.stop().await;
}

#[tokio::test]
async fn revoking_the_zone_token_closes_the_live_stream() {
    let dir = tempfile::tempdir().unwrap();
    let global = Global::start(&dir.path().join("global"), &[]).await;
    let kds = global.kds_address();
    let ca = global.ca.to_str().unwrap().to_owned();
    let token_path = dir.path().join("zone-1.token");
    zone_token(&global, "zone-1", &token_path).await;
    let token = std::fs::read_to_string(&token_path).unwrap();
    let zone = Zone::start(
        &dir.path().join("z"),
        &zone_env("zone-1", &kds, &ca, token_path.to_str().unwrap()),
    )
    .await;
    eventually("the zone to connect", WAIT, || async {
        (kds_status(&zone).await["state"] == "connected").then_some(())
    })
    .await;

    let jti = jti_of(&token);
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(jti);
    put(
        &format!("{}/global-secrets/zone-token-revocations", global.api),
        json!({"type": "GlobalSecret", "name": "zone-token-revocations", "data": data}),
    )
    .await;
    let started = std::time::Instant::now();
    wait_for_error(&zone, "token is revoked").await;
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
    zone.stop().await;
    global.stop().await;
}

fn jti_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim()).unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

pub(super) async fn global_metrics(global: &Global) -> String {
    let url = format!("{}/metrics", global.diagnostics());
    http_client().get(url).send().await.unwrap().text().await.unwrap()
}

/// A port that was free a moment ago, for a global that must come back on the same address.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn zone_keeps_issuing_tokens_while_the_global_is_down_and_resyncs_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let global_dir = dir.path().join("global");
    let port = free_port().to_string();
    let global_env = [("KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT", port.as_str())];
    let global = Global::start(&global_dir, &global_env).await;
    let kds = format!("grpcs://localhost:{port}");
    let ca = global.ca.to_str().unwrap().to_owned();
    let token = dir.path().join("zone-1.token");
    zone_token(&global, "zone-1", &token).await;
    let zone = Zone::start(
        &dir.path().join("zone"),
        &zone_env("zone-1", &kds, &ca, token.to_str().unwrap()),
    )
    .await;

    put(&format!("{}/meshes/default", global.api), json!({"type": "Mesh", "name": "default"}))
        .await;
    let dp = json!({"type": "Dataplane", "mesh": "default", "name": "web-1",
        "networking": {"address": "127.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]}});
    eventually("the mesh to reach the zone", WAIT, || async {
        (get(&format!("{}/meshes/default", zone.api)).await.0 == StatusCode::OK).then_some(())
    })
    .await;
    put(&format!("{}/meshes/default/dataplanes/web-1", zone.api), dp).await;
    eventually("the dataplane to reach the global", WAIT, || async {
        (get(&format!("{}/dataplanes", global.api)).await.1["total"] == 1).then_some(())
    })
    .await;

    // The mesh's signing key is a Secret, synced as its own type: wait for it before the global
    // goes away.
    eventually("the mesh's signing key to reach the zone", WAIT, || async {
        let (_, secrets) = get(&format!("{}/meshes/default/secrets", zone.api)).await;
        secrets.to_string().contains("dataplane-token-signing-key-default-1").then_some(())
    })
    .await;

    // The global goes away: the zone notices, keeps its state and keeps issuing DP tokens.
    global.stop().await;
    eventually("the zone to see the global gone", WAIT, || async {
        (kds_status(&zone).await["state"] != "connected").then_some(())
    })
    .await;
    let resp = http_client()
        .post(format!("{}/tokens/dataplane", zone.api))
        .json(&json!({"mesh": "default", "name": "web-2", "validFor": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "DP tokens while the global is down");
    assert_eq!(get(&format!("{}/meshes/default", zone.api)).await.0, StatusCode::OK, "state kept");

    // The global comes back on the same store and port: the zone reconnects and resyncs.
    let global = Global::start(&global_dir, &global_env).await;
    eventually("the zone to reconnect", WAIT, || async {
        (kds_status(&zone).await["state"] == "connected").then_some(())
    })
    .await;
    let tp = json!({"type": "TrafficPermission", "mesh": "default", "name": "after-restart",
        "sources": [{"match": {"kuma.io/service": "*"}}], "destinations": [{"match": {"kuma.io/service": "*"}}]});
    put(&format!("{}/meshes/default/traffic-permissions/after-restart", global.api), tp).await;
    eventually("a policy created after the restart to reach the zone", WAIT, || async {
        (get(&format!("{}/meshes/default/traffic-permissions", zone.api)).await.1["total"] == 1)
            .then_some(())
    })
    .await;
    let (_, dps) = get(&format!("{}/dataplanes", global.api)).await;
    assert_eq!(dps["total"], 1, "nothing lost or duplicated: {dps}");
    let (_, meshes) = get(&format!("{}/meshes", zone.api)).await;
    assert_eq!(meshes["total"], 1, "{meshes}");
    zone.stop().await;
    global.stop().await;
}

#[tokio::test]
async fn skip_verify_connects_with_any_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let global = Global::start(&dir.path().join("global"), &[]).await;
    let kds = global.kds_address();
    let token = dir.path().join("t");
    zone_token(&global, "zone-1", &token).await;
    let env: Vec<(&str, &str)> = zone_env("zone-1", &kds, "", token.to_str().unwrap())
        .into_iter()
        .filter(|(k, _)| !k.contains("ROOT_CA"))
        .chain([("KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY", "true")])
        .collect();
    let zone = Zone::start(&dir.path().join("z"), &env).await;
    eventually("the zone to connect without verifying", WAIT, || async {
        (kds_status(&zone).await["state"] == "connected").then_some(())
    })
    .await;
    zone.stop().await;
    global.stop().await;
}

#[tokio::test]
async fn a_required_client_certificate_must_name_the_zone() {
    use kuma_core::tls::{CertKind, KeyType, generate_certificate};
    use secrecy::ExposeSecret;
    let dir = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let write_pair = |name: &str| {
        let pair = generate_certificate(CertKind::Client, &[name.to_owned()], KeyType::Ecdsa, now)
            .unwrap();
        let cert = dir.path().join(format!("{name}.crt"));
        let key = dir.path().join(format!("{name}.key"));
        std::fs::write(&cert, &pair.cert_pem).unwrap();
        std::fs::write(&key, pair.key_pem.expose_secret()).unwrap();
        (pair, cert, key)
    };
    let (zone_1, cert_1, key_1) = write_pair("zone-1");
    let (zone_2, cert_2, key_2) = write_pair("zone-2");
    // One CA file trusting both client CAs.
    let ca_of =
        |pem: &str| pem.split_inclusive("-----END CERTIFICATE-----\n").last().unwrap().to_owned();
    let client_ca = dir.path().join("client-ca.pem");
    std::fs::write(&client_ca, ca_of(&zone_1.cert_pem) + &ca_of(&zone_2.cert_pem)).unwrap();

    let global_env =
        [("KUMA_MULTIZONE_GLOBAL_KDS_TLS_CLIENT_CA_FILE", client_ca.to_str().unwrap())];
    let global = Global::start(&dir.path().join("global"), &global_env).await;
    let kds = global.kds_address();
    let ca = global.ca.to_str().unwrap().to_owned();
    let token = dir.path().join("t");
    zone_token(&global, "zone-1", &token).await;
    let base = zone_env("zone-1", &kds, &ca, token.to_str().unwrap());

    let zone = Zone::start(&dir.path().join("no-cert"), &base).await;
    wait_for_error(&zone, "a client certificate is required").await;
    zone.stop().await;

    let mut wrong = base.clone();
    wrong.extend([
        ("KUMA_MULTIZONE_ZONE_KDS_TLS_CERT_FILE", cert_2.to_str().unwrap()),
        ("KUMA_MULTIZONE_ZONE_KDS_TLS_KEY_FILE", key_2.to_str().unwrap()),
    ]);
    let zone = Zone::start(&dir.path().join("wrong-cert"), &wrong).await;
    wait_for_error(&zone, "not the zone \"zone-1\"").await;
    zone.stop().await;

    let mut right = base.clone();
    right.extend([
        ("KUMA_MULTIZONE_ZONE_KDS_TLS_CERT_FILE", cert_1.to_str().unwrap()),
        ("KUMA_MULTIZONE_ZONE_KDS_TLS_KEY_FILE", key_1.to_str().unwrap()),
    ]);
    let zone = Zone::start(&dir.path().join("right-cert"), &right).await;
    eventually("the zone with its own certificate to connect", WAIT, || async {
        (kds_status(&zone).await["state"] == "connected").then_some(())
    })
    .await;
    zone.stop().await;
    global.stop().await;
}

#[tokio::test]
async fn a_zone_ingress_goes_up_to_the_global_and_on_to_the_other_zones_only() {
    let dir = tempfile::tempdir().unwrap();
    let (global, zones) = federation(dir.path()).await;
    let ingress = json!({"type": "ZoneIngress", "name": "ingress-1", "zone": "zone-1",
        "networking": {"address": "10.1.0.9", "port": 10001,
            "advertisedAddress": "203.0.113.1", "advertisedPort": 443},
        "availableServices": [{"tags": {"kuma.io/service": "web", "kuma.io/zone": "zone-2"},
            "instances": 1, "mesh": "default"}]});
    put(&format!("{}/zoneingresses/ingress-1", zones[0].api), ingress).await;

    let on_global = eventually("the ingress to reach the global", WAIT, || async {
        let (_, list) = get(&format!("{}/zoneingresses", global.api)).await;
        (list["total"] == 1).then(|| list["items"][0].clone())
    })
    .await;
    assert_eq!(on_global["labels"]["kuma.io/zone"], "zone-1");
    assert_eq!(on_global["zone"], "zone-1");
    // The global pins the zone in what the ingress claims to serve.
    assert_eq!(on_global["availableServices"][0]["tags"]["kuma.io/zone"], "zone-1");
    let on_zone_2 = eventually("the ingress to reach zone-2", WAIT, || async {
        let (_, list) = get(&format!("{}/zoneingresses", zones[1].api)).await;
        (list["total"] == 1).then(|| list["items"][0].clone())
    })
    .await;
    assert_eq!(on_zone_2["labels"]["kuma.io/origin"], "global");
    assert_eq!(on_zone_2["labels"]["kuma.io/zone"], "zone-1");
    assert_eq!(on_zone_2["labels"]["kuma.io/display-name"], "ingress-1");
    assert_eq!(on_zone_2["networking"]["advertisedAddress"], "203.0.113.1");

    // zone-1 never gets its own ingress back, and zone-2 does not send zone-1's up again.
    let (_, own) = get(&format!("{}/zoneingresses", zones[0].api)).await;
    assert_eq!(own["total"], 1, "{own}");
    assert_eq!(own["items"][0]["name"], "ingress-1");
    let (_, on_global) = get(&format!("{}/zoneingresses", global.api)).await;
    assert_eq!(on_global["total"], 1, "{on_global}");

    // Disabling zone-1 withdraws its ingress from the other zones; deleting it removes it everywhere.
    put(
        &format!("{}/zones/zone-1", global.api),
        json!({"type": "Zone", "name": "zone-1", "enabled": false}),
    )
    .await;
    eventually("zone-1's ingress to leave zone-2", WAIT, || async {
        let (_, list) = get(&format!("{}/zoneingresses", zones[1].api)).await;
        (list["total"] == 0).then_some(())
    })
    .await;
    let resp = http_client()
        .delete(format!("{}/zoneingresses/ingress-1", zones[0].api))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    eventually("the ingress to leave the global", WAIT, || async {
        let (_, list) = get(&format!("{}/zoneingresses", global.api)).await;
        (list["total"] == 0).then_some(())
    })
    .await;
    for zone in zones {
        zone.stop().await;
    }
    global.stop().await;
}
