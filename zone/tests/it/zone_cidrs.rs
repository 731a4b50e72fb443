//! Per-zone networks (`Zone.allowedCidrs`, our extension): the global refuses a zone control plane
//! that authenticates fine but connects from outside its zone's networks, and leaves other zones
//! alone. The client is a raw KDS client dialled from a chosen loopback address (`127.0.0.2`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kuma_core::net::{ChannelSettings, connect};
use kuma_core::shutdown;
use proto::envoy::service::discovery::v3::DeltaDiscoveryRequest;
use proto::kuma::mesh::v1alpha1::global_kds_service_client::GlobalKdsServiceClient;
use proto::kuma::mesh::v1alpha1::kds_sync_service_client::KdsSyncServiceClient;
use proto::kuma::mesh::v1alpha1::{ZoneHealthCheckRequest, ZoneHealthCheckResponse};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::cp::{config, eventually, http_client};
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Status};

const WAIT: Duration = Duration::from_secs(20);
const OTHER_LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Where a raw zone client dials and what it trusts.
struct Kds {
    address: String,
    ca: PathBuf,
}

impl Kds {
    fn settings(&self, local_ip: Option<IpAddr>) -> ChannelSettings {
        ChannelSettings {
            address: self.address.clone(),
            root_ca: Some(self.ca.clone()),
            skip_verify: false,
            identity: None,
            local_ip,
        }
    }

    /// `GlobalKDSService/HealthCheck` as `zone`, from `local_ip` (the system's choice, 127.0.0.1,
    /// when `None`).
    async fn health_check(
        &self,
        zone: &str,
        token: &str,
        local_ip: Option<IpAddr>,
    ) -> Result<ZoneHealthCheckResponse, Status> {
        let channel = connect(&self.settings(local_ip)).await.unwrap();
        let mut request = Request::new(ZoneHealthCheckRequest {});
        *request.metadata_mut() = metadata(zone, token);
        GlobalKdsServiceClient::new(channel).health_check(request).await.map(|r| r.into_inner())
    }

    /// Opens `KDSSyncService/GlobalToZoneSync` as `zone` and reports whether the global took it.
    async fn open_sync_stream(
        &self,
        zone: &str,
        token: &str,
        local_ip: Option<IpAddr>,
    ) -> Result<(), Status> {
        let channel = connect(&self.settings(local_ip)).await.unwrap();
        let mut request = Request::new(tokio_stream::pending::<DeltaDiscoveryRequest>());
        *request.metadata_mut() = metadata(zone, token);
        KdsSyncServiceClient::new(channel).global_to_zone_sync(request).await.map(|_| ())
    }
}

fn metadata(zone: &str, token: &str) -> MetadataMap {
    let mut map = MetadataMap::new();
    map.insert("client-id", zone.parse().unwrap());
    map.insert("authorization", format!("Bearer {token}").parse().unwrap());
    map
}

async fn put(api: &str, path: &str, body: Value) -> (StatusCode, String) {
    let resp = http_client().put(format!("{api}{path}")).json(&body).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn zone_token(api: &str, zone: &str) -> String {
    let resp = http_client()
        .post(format!("{api}/tokens/zone"))
        .json(&json!({"zone": zone, "scope": ["cp"], "validFor": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap().trim().to_owned()
}

fn audit_lines(work_dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(work_dir.join("audit.log")).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[tokio::test]
async fn zone_with_allowed_cidrs_is_refused_from_other_networks() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("global");
    let app = global::App::build(config(&work, &[("KUMA_MODE", "global")])).await.unwrap();
    let addrs = app.addresses();
    let (trigger, shutdown) = shutdown::channel();
    let task = tokio::spawn(app.run(shutdown));
    let api = format!("http://localhost:{}", addrs.runtime.http.unwrap().port());
    let diagnostics = addrs.runtime.diagnostics.port();
    let kds = Kds {
        address: format!("grpcs://localhost:{}", addrs.kds.port()),
        ca: work.join("kuma-cp.crt"),
    };

    // A bad entry is refused by the API, naming its index.
    let (status, body) = put(
        &api,
        "/zones/zone-1",
        json!({"type": "Zone", "name": "zone-1", "allowedCidrs": ["127.0.0.2/32", "127.0.0.300/32"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("allowedCidrs[1]"), "{body}");

    let zone1 = json!({"type": "Zone", "name": "zone-1", "allowedCidrs": ["127.0.0.2/32"]});
    let (status, body) = put(&api, "/zones/zone-1", zone1).await;
    assert!(status.is_success(), "{status} {body}");
    let (status, body) =
        put(&api, "/zones/zone-2", json!({"type": "Zone", "name": "zone-2"})).await;
    assert!(status.is_success(), "{status} {body}");
    let token1 = zone_token(&api, "zone-1").await;
    let token2 = zone_token(&api, "zone-2").await;
    let token3 = zone_token(&api, "zone-3").await;

    // zone-1 from 127.0.0.1: authenticated, then refused for its address, on every KDS call.
    let refused = kds.health_check("zone-1", &token1, None).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(refused.message(), "zone \"zone-1\" may not connect from 127.0.0.1");
    let refused = kds.open_sync_stream("zone-1", &token1, None).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    // The token is checked first: a bad one is unauthenticated wherever it comes from.
    let wrong = kds.health_check("zone-1", &token2, None).await.unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated, "{wrong:?}");

    // zone-1 from its own network is accepted, by both services.
    kds.health_check("zone-1", &token1, Some(OTHER_LOOPBACK)).await.unwrap();
    kds.open_sync_stream("zone-1", &token1, Some(OTHER_LOOPBACK)).await.unwrap();

    // A zone without CIDRs, and one with no Zone resource yet, connect from anywhere.
    kds.health_check("zone-2", &token2, None).await.unwrap();
    kds.health_check("zone-3", &token3, None).await.unwrap();

    let metrics = http_client()
        .get(format!("http://localhost:{diagnostics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = metrics
        .lines()
        .find(|l| l.starts_with("kuma_auth_failures_total{") && l.contains("reason=\"zone_cidr\""))
        .unwrap_or_else(|| panic!("no zone_cidr failures counted:\n{metrics}"));
    assert!(counted.contains("subject=\"zone\""), "{counted}");
    assert!(counted.ends_with(" 2"), "one health check and one stream refused: {counted}");

    let audited = eventually("both refusals to be audited", WAIT, || async {
        let lines: Vec<Value> =
            audit_lines(&work).into_iter().filter(|l| l["reason"] == "zone_cidr").collect();
        (lines.len() == 2).then_some(lines)
    })
    .await;
    assert_eq!(audited[0]["event"], "authFailed");
    assert_eq!(audited[0]["subject"], "zone");
    assert!(audited[0]["source"].as_str().unwrap().starts_with("127.0.0.1:"), "{audited:?}");

    trigger.fire();
    task.await.unwrap().unwrap();
}
