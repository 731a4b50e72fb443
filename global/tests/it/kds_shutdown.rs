//! A zone's stream does not hold the global's shutdown: a NACK backoff in progress (here an hour
//! long) ends the moment the global is asked to stop. The zone is a raw KDS client.

use std::time::{Duration, Instant};

use kuma_core::net::{ChannelSettings, connect};
use kuma_core::resources::ResourceType;
use proto::envoy::service::discovery::v3::DeltaDiscoveryRequest;
use proto::kuma::mesh::v1alpha1::kds_sync_service_client::KdsSyncServiceClient;
use reqwest::StatusCode;
use serde_json::json;
use shared::kds::delta::{self, Rejected, Subscriber};
use shared::testing::cp::{eventually, http_client};
use testkit::Global;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_nack_backoff_in_progress_does_not_hold_the_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let global =
        Global::start(dir.path(), &[("KUMA_MULTIZONE_GLOBAL_KDS_NACK_BACKOFF", "1h")]).await;
    let resp = http_client()
        .post(format!("{}/tokens/zone", global.api))
        .json(&json!({"zone": "zone-1", "scope": ["cp"], "validFor": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let token = resp.text().await.unwrap();

    let settings = ChannelSettings {
        address: global.kds_address(),
        root_ca: Some(global.ca.clone()),
        skip_verify: false,
        identity: None,
        local_ip: None,
    };
    let mut client = KdsSyncServiceClient::new(connect(&settings).await.unwrap());
    let (tx, rx) = mpsc::channel::<DeltaDiscoveryRequest>(4);
    let mut subscriber = Subscriber::new(delta::node("zone-1"));
    tx.send(subscriber.subscribe(ResourceType::Mesh)).await.unwrap();
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("client-id", "zone-1".parse().unwrap());
    let bearer = format!("Bearer {}", token.trim()).parse().unwrap();
    request.metadata_mut().insert("authorization", bearer);
    let mut responses = client.global_to_zone_sync(request).await.unwrap().into_inner();
    let first = responses.message().await.unwrap().expect("the full state of Mesh");

    let rejected = Rejected {
        type_url: first.type_url,
        nonce: first.nonce,
        message: "refused by the test".to_owned(),
    };
    tx.send(subscriber.nack(&rejected)).await.unwrap();
    let metrics = format!("{}/metrics", global.diagnostics());
    eventually("the global to start its NACK backoff", WAIT, || async {
        let text = http_client().get(&metrics).send().await.ok()?.text().await.ok()?;
        text.contains("kuma_kds_nacks_received_total 1").then_some(())
    })
    .await;

    let asked = Instant::now();
    tokio::time::timeout(WAIT, global.stop()).await.expect("the global stops within 10 s");
    assert!(asked.elapsed() < WAIT);
    // The zone learns why its stream ended.
    let end = tokio::time::timeout(WAIT, responses.message()).await.expect("the stream ends");
    let status = end.expect_err("the global ends the stream with a status");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status}");
}
