//! A healthy federation: resources flow both ways; intruders are refused, each for its reason.

use crate::api::wait_for;
use crate::lab::{Lab, Node, POLL, SETTLE};

const TP_WEB: &str = "type: TrafficPermission
mesh: default
name: allow-web
sources: [{match: {kuma.io/service: web}}]
destinations: [{match: {kuma.io/service: backend}}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_sync_both_ways_and_intruders_are_refused() {
    let mut lab = Lab::up("federation").await;

    // Down: the mesh (with its builtin CA) and the TrafficPermission of global-init.
    for zone in &lab.zones {
        assert_eq!(zone.count("/meshes").await, Some(1));
        assert_eq!(zone.traffic_permissions().await.unwrap(), ["allow-all"]);
    }
    // Up: every proxy once, stamped with its zone.
    let mut dps = lab.global.dataplanes().await.unwrap();
    dps.sort();
    let expected =
        [("dp-1a", "zone-1"), ("dp-1b", "zone-1"), ("dp-2a", "zone-2"), ("dp-2b", "zone-2")];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(n, z)| ((*n).to_owned(), (*z).to_owned())).collect();
    assert_eq!(dps, expected);

    // A change on the global reaches both zones while they are connected.
    lab.apply(Node::Global, TP_WEB).await;
    for (i, zone) in lab.zones.iter().enumerate() {
        wait_for(&format!("allow-web on zone-{}", i + 1), SETTLE, POLL, || async {
            (zone.traffic_permissions().await? == ["allow-all", "allow-web"]).then_some(())
        })
        .await;
    }

    let intruders = lab.start_intruders().await;
    let refused = r#"kuma_connections_refused_total{listener="kds"}"#;
    let wrong_zone = r#"kuma_auth_failures_total{subject="zone",reason="wrong_zone"}"#;
    let mut checks = vec![
        (&intruders.wrong_ca, "wrong CA", "is not trusted"),
        (&intruders.impostor, "zone-1's token", "the global refused this zone's credentials"),
    ];
    if let Some(rogue) = &intruders.rogue {
        checks.push((
            rogue,
            "outside the allowlist",
            "closed the connection before the TLS handshake",
        ));
    }
    for (zone, why, needle) in &checks {
        let error = wait_for(
            &format!("the zone with {why} to report {needle:?}"),
            SETTLE,
            POLL,
            || async {
                let status = zone.kds_status().await?;
                status.last_error.contains(needle).then_some(status.last_error)
            },
        )
        .await;
        eprintln!("refused ({why}): {error}");
    }
    if intruders.rogue.is_some() {
        // Refused before TLS, counted; and again on its retries.
        let first = lab.global.counter(refused).await;
        assert!(first >= 1, "the allowlist refusal is counted");
        wait_for("the rogue zone to retry and be refused again", SETTLE, POLL, || async {
            (lab.global.counter(refused).await >= first + 2).then_some(())
        })
        .await;
    }
    let first = lab.global.counter(wrong_zone).await;
    assert!(first >= 1, "the impostor's token is counted as wrong_zone");
    wait_for("the impostor to retry and be refused again", SETTLE, POLL, || async {
        (lab.global.counter(wrong_zone).await >= first + 2).then_some(())
    })
    .await;

    // After several attempts each, none of them ever joined: the global knows two zones, and
    // none of the intruders reports a connection.
    let zones = lab.global.zones().await.unwrap();
    assert_eq!(zones.keys().collect::<Vec<_>>(), ["zone-1", "zone-2"], "{zones:?}");
    for (zone, why, _) in &checks {
        let state = zone.kds_status().await.unwrap().state;
        assert_ne!(state, "connected", "the zone with {why}");
    }
    assert_eq!(lab.global.dataplanes().await.unwrap().len(), 4);
}
