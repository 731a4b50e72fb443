//! The global down: for `KUMA_E2E_GLOBAL_DOWN_SECS` (300 by default, the README's outage budget
//! figure checked) the zones keep issuing DP tokens and certificates and every proxy keeps a
//! valid, rotating certificate; then the global comes back and everything resyncs, nothing lost
//! or duplicated.

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use crate::api::wait_for;
use crate::lab::{Lab, Node, POLL, PROXIES, SETTLE};

const DOWN_SECS: &str = "KUMA_E2E_GLOBAL_DOWN_SECS";
const DEFAULT_DOWN_SECS: u64 = 300;
/// The lab mesh's `dpCert.rotation.expiration`.
const CERT_VALIDITY_SECS: u64 = 30;

fn down_for() -> Duration {
    let secs = match std::env::var(DOWN_SECS) {
        Ok(v) => {
            v.parse().unwrap_or_else(|_| panic!("{DOWN_SECS}: not a number of seconds: {v:?}"))
        }
        Err(_) => DEFAULT_DOWN_SECS,
    };
    assert!(
        secs >= CERT_VALIDITY_SECS,
        "{DOWN_SECS}: at least {CERT_VALIDITY_SECS}, to see rotations"
    );
    Duration::from_secs(secs)
}

/// A dataplane token minted by zone `i`'s own API.
async fn mint(lab: &Lab, i: usize, name: &str) -> String {
    let args =
        ["generate", "dataplane-token", "--mesh", "default", "--name", name, "--valid-for", "1h"];
    let token = lab.kumactl(Node::Zone(i), &args, None).await.trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "zone-{} minted a JWT: {token:?}", i + 1);
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_keep_issuing_while_the_global_is_down_then_resync() {
    let down_for = down_for();
    let mut lab = Lab::up("outage").await;
    let meshes = lab.global.count("/meshes").await;
    let tps = lab.global.traffic_permissions().await.unwrap();

    let mut before = BTreeMap::new();
    for (i, zone) in lab.zones.iter().enumerate() {
        for (name, cert) in zone.dp_certs().await.unwrap() {
            before.insert((i, name), cert.regenerations);
        }
    }

    lab.kill_global().await;
    let started = tokio::time::Instant::now();
    for (i, zone) in lab.zones.iter().enumerate() {
        wait_for(&format!("zone-{} to notice the global is gone", i + 1), SETTLE, POLL, || async {
            (!zone.connected().await).then_some(())
        })
        .await;
    }

    // A new proxy joins zone-1 with a token zone-1 minted during the outage.
    let token = mint(&lab, 0, "dp-1c").await;
    lab.start_late_proxy(&token).await;
    wait_for("dp-1c certified by zone-1 with the global down", SETTLE, POLL, || async {
        let certs = lab.zones[0].dp_certs().await?;
        certs.get("dp-1c").is_some_and(|c| c.regenerations >= 1).then_some(())
    })
    .await;

    // For the whole outage: the zones answer, stay disconnected (the global really is down) and
    // every proxy holds a certificate that has not expired.
    let mut checks = 0u64;
    let mut every = tokio::time::interval(Duration::from_secs(5));
    while started.elapsed() < down_for {
        every.tick().await;
        for (i, zone) in lab.zones.iter().enumerate() {
            let status = zone.kds_status().await;
            let status = status.unwrap_or_else(|| panic!("zone-{} stopped answering", i + 1));
            assert_ne!(status.state, "connected", "zone-{} reached a killed global", i + 1);
            let certs = zone.dp_certs().await.unwrap();
            let now = OffsetDateTime::now_utc();
            for dp in PROXIES[i] {
                let expiry = certs[dp].expiration.unwrap_or_else(|| panic!("{dp}: no certificate"));
                assert!(expiry > now, "{dp}: certificate expired at {expiry} (now {now})");
            }
        }
        checks += 1;
    }
    // Still issuing at the end of the budget.
    for i in 0..2 {
        mint(&lab, i, &format!("late-{}", i + 1)).await;
    }
    // And rotating all along: one certificate per validity period at least (rotation starts
    // at 4/5 of it).
    let expected = down_for.as_secs() / CERT_VALIDITY_SECS;
    for (i, zone) in lab.zones.iter().enumerate() {
        let certs = zone.dp_certs().await.unwrap();
        for dp in PROXIES[i] {
            let rotated = certs[dp].regenerations - before[&(i, dp.to_owned())];
            assert!(
                rotated >= expected,
                "{dp} rotated {rotated} times in {down_for:?}, expected {expected}"
            );
        }
    }
    eprintln!("global down {:?}: {checks} checks, every certificate valid", started.elapsed());

    lab.start_global().await;
    lab.wait_whole().await;
    // dp-1c, registered during the outage, reaches the global; nothing is lost or duplicated.
    let want = [
        ("dp-1a", "zone-1"),
        ("dp-1b", "zone-1"),
        ("dp-1c", "zone-1"),
        ("dp-2a", "zone-2"),
        ("dp-2b", "zone-2"),
    ];
    let want: Vec<(String, String)> =
        want.iter().map(|(n, z)| ((*n).to_owned(), (*z).to_owned())).collect();
    let dps = wait_for("dp-1c on the global after the resync", SETTLE, POLL, || async {
        let mut dps = lab.global.dataplanes().await?;
        dps.sort();
        (dps.len() >= want.len()).then_some(dps)
    })
    .await;
    assert_eq!(dps, want);
    assert_eq!(lab.global.count("/meshes").await, meshes);
    assert_eq!(lab.global.traffic_permissions().await.unwrap(), tps);
    for zone in &lab.zones {
        assert_eq!(zone.count("/meshes").await, meshes);
        assert_eq!(zone.traffic_permissions().await.unwrap(), tps);
    }
}
