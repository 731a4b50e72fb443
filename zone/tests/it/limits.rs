//! Per-client limits with real listeners on loopback: a flood from 127.0.0.2 is turned away
//! while a client on 127.0.0.1 is still served, on the token API, the DP server and KDS; and
//! oversize messages are refused with a clear error. Linux routes all of 127.0.0.0/8 to lo, so
//! binding the client socket to 127.0.0.2 is enough to be a second client.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use proto::kumars::dp::v1 as pb;
use proto::kumars::dp::v1::cp_message::Kind;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{eventually, http_client};
use testkit::Global;
use tokio::net::{TcpSocket, TcpStream};
use tonic::Code;

use super::dp_server::{Session, Zone, verifies};
use super::multizone::{WAIT, global_metrics, kds_status, put, zone_env, zone_token};

const FLOODER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// An HTTP(S) client whose connections come from `from` and trust the CP certificate at `ca`.
fn client_from(from: IpAddr, ca: &Path) -> reqwest::Client {
    kuma_core::process::install_crypto_provider();
    let pem = std::fs::read(ca).unwrap();
    let tls = kuma_core::tls::client_config(Some(&pem)).unwrap();
    reqwest::Client::builder().use_preconfigured_tls(tls).local_address(from).build().unwrap()
}

/// `n` TCP connections to `port` on 127.0.0.1 from `from`, kept open by the caller: those the
/// listener admits sit in their TLS handshake, the others are reset.
async fn tcp_flood(from: IpAddr, port: u16, n: usize) -> Vec<TcpStream> {
    let to = SocketAddr::new(LOCAL, port);
    let connects: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(async move {
                let socket = TcpSocket::new_v4().unwrap();
                socket.bind(SocketAddr::new(from, 0)).unwrap();
                socket.connect(to).await.ok()
            })
        })
        .collect();
    let mut streams = Vec::new();
    for connect in connects {
        streams.extend(connect.await.unwrap());
    }
    streams
}

/// The value of the counter line that starts with `series`, 0 when absent.
fn counter(metrics: &str, series: &str) -> u64 {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn a_token_flood_from_one_address_gets_429s_while_another_keeps_getting_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start_with(
        dir.path(),
        &[
            ("KUMA_API_SERVER_RATE_LIMIT_TOKENS_PER_SECOND", "1"),
            ("KUMA_API_SERVER_RATE_LIMIT_TOKENS_BURST", "5"),
            ("KUMA_API_SERVER_RATE_LIMIT_TOKENS_MAX_IN_FLIGHT", "2"),
        ],
    )
    .await;
    zone.mesh_with_web("default", "1h").await;
    let http = zone.api.replace("localhost", "127.0.0.1");
    let https = zone.https();
    let flooder = client_from(FLOODER, &zone.ca);
    let body = json!({"name": "web-01", "mesh": "default"});
    // Half the flood over HTTP, half over HTTPS: both listeners share the address's budget.
    let flood: Vec<_> = (0..60)
        .map(|i| {
            let base = if i % 2 == 0 { &http } else { &https };
            let request = flooder.post(format!("{base}/tokens/dataplane")).json(&body).send();
            tokio::spawn(request)
        })
        .collect();
    let legit = async {
        let mut issued = 0;
        for _ in 0..4 {
            let resp =
                http_client().post(format!("{http}/tokens/dataplane")).json(&body).send().await;
            let resp = resp.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "the client on 127.0.0.1 is served");
            issued += usize::from(!resp.text().await.unwrap().is_empty());
        }
        issued
    };
    let issued = legit.await;
    assert_eq!(issued, 4);
    let mut refused = Vec::new();
    let mut ok = 0;
    for resp in flood {
        let resp = resp.await.unwrap().unwrap();
        match resp.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => refused.push(resp),
            other => panic!("unexpected {other}: {}", resp.text().await.unwrap()),
        }
    }
    // The burst of 5, and what refilled at 1 a second while the flood lasted.
    assert!(ok <= 10, "{ok} got through");
    assert!(refused.len() >= 50, "{} refused", refused.len());
    let resp = refused.pop().unwrap();
    let retry_after: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(body["title"], "Too Many Requests");
    assert!(body["detail"].as_str().unwrap().contains("retry in"), "{body}");

    // The token endpoints take small bodies only, well under the API's 1 MiB.
    let big = json!({"name": "web-01", "mesh": "default", "tags": {"x": ["y".repeat(100_000)]}});
    let resp = http_client().post(format!("{http}/tokens/dataplane")).json(&big).send().await;
    assert_eq!(resp.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);

    let metrics = zone.metrics().await;
    let rate =
        counter(&metrics, "kuma_rate_limited_total{listener=\"api-tokens\",reason=\"rate\"}");
    let open = counter(
        &metrics,
        "kuma_rate_limited_total{listener=\"api-tokens\",reason=\"concurrency\"}",
    );
    assert_eq!(rate + open, refused.len() as u64 + 1, "{metrics}");
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(
        audit.lines().any(|l| l.contains("\"rateLimited\"") && l.contains("127.0.0.2")),
        "{audit}"
    );
    zone.stop().await;
}

#[tokio::test]
async fn a_connection_flood_from_one_address_leaves_another_proxy_served() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start_with(
        dir.path(),
        &[
            ("KUMA_DP_SERVER_RATE_LIMIT_PER_SECOND", "1"),
            ("KUMA_DP_SERVER_RATE_LIMIT_BURST", "5"),
            ("KUMA_DP_SERVER_RATE_LIMIT_MAX_CONNECTIONS", "5"),
        ],
    )
    .await;
    zone.mesh_with_web("default", "1h").await;
    let token = zone.token(json!({"name": "web-01", "mesh": "default"})).await;
    // Held open: five sit in their handshake, the rest were reset before TLS.
    let _flood = tcp_flood(FLOODER, zone.dp_server.port(), 200).await;
    let refused = eventually("the flood to be turned away", WAIT, || async {
        let metrics = zone.metrics().await;
        let rate =
            counter(&metrics, "kuma_rate_limited_total{listener=\"dp-server\",reason=\"rate\"}");
        let open = counter(
            &metrics,
            "kuma_rate_limited_total{listener=\"dp-server\",reason=\"concurrency\"}",
        );
        (rate + open >= 195).then_some(open)
    })
    .await;
    assert!(refused > 0, "the flood also hit the open-connection cap");

    let mut session = Session::open(&zone, &token, "default", "").await.unwrap();
    assert!(matches!(session.next().await.unwrap(), Kind::Rotate(_)));
    let identity = session.csr().await;
    assert!(verifies(&identity), "the proxy on 127.0.0.1 got its certificate");

    // A Hello over KUMA_DP_SERVER_MAX_MSG_SIZE (1 MiB by default) is refused before anything
    // reads it, naming the limit.
    let hello = pb::Hello {
        mesh: "default".into(),
        name: "web-01".into(),
        resource_json: "x".repeat(2 * 1024 * 1024),
        ..Default::default()
    };
    let err = Session::open_with(&zone, Some(&format!("Bearer {token}")), hello)
        .await
        .err()
        .expect("an oversize Hello is refused");
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert!(err.message().contains("message length too large"), "{}", err.message());
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(audit.contains("\"listener\":\"dp-server\""), "{audit}");
    zone.stop().await;
}

#[tokio::test]
async fn a_kds_connect_flood_from_one_address_leaves_a_real_zone_syncing() {
    let dir = tempfile::tempdir().unwrap();
    let global = Global::start(
        &dir.path().join("global"),
        &[
            ("KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_PER_SECOND", "1"),
            ("KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_BURST", "3"),
            ("KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_MAX_CONNECTIONS", "3"),
        ],
    )
    .await;
    let _flood = tcp_flood(FLOODER, global.kds.port(), 100).await;
    eventually("the flood to be turned away", WAIT, || async {
        let metrics = global_metrics(&global).await;
        let rate = counter(&metrics, "kuma_rate_limited_total{listener=\"kds\",reason=\"rate\"}");
        let open =
            counter(&metrics, "kuma_rate_limited_total{listener=\"kds\",reason=\"concurrency\"}");
        (rate + open >= 97).then_some(())
    })
    .await;

    let token = dir.path().join("zone-1.token");
    zone_token(&global, "zone-1", &token).await;
    let kds = global.kds_address();
    let ca = global.ca.to_str().unwrap().to_owned();
    let env = zone_env("zone-1", &kds, &ca, token.to_str().unwrap());
    let zone = Zone::start_with(&dir.path().join("zone-1"), &env).await;
    eventually("the zone to connect", WAIT, || async {
        (kds_status(&zone).await["state"] == "connected").then_some(())
    })
    .await;
    put(&format!("{}/meshes/synced", global.api), json!({"type": "Mesh", "name": "synced"})).await;
    eventually("the mesh to reach the zone", WAIT, || async {
        let resp = http_client().get(format!("{}/meshes/synced", zone.api)).send().await.ok()?;
        (resp.status() == StatusCode::OK).then_some(())
    })
    .await;
    zone.stop().await;
    global.stop().await;
}
