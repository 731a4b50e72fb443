//! A zone cut off from the global reconnects and catches up when the cut heals; a zone CP
//! restarted gets its proxies back, each with a certificate issued on its new session.

use time::OffsetDateTime;

use crate::api::wait_for;
use crate::lab::{Lab, Node, POLL, PROXIES, SETTLE};

const TP_CUT: &str = "type: TrafficPermission
mesh: default
name: allow-during-cut
sources: [{match: {kuma.io/service: web}}]
destinations: [{match: {kuma.io/service: web}}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_zone_resyncs_and_a_restarted_zone_recertifies_its_proxies() {
    let mut lab = Lab::up("restarts").await;

    if lab.cut(1).await {
        wait_for("zone-2 to lose the global", SETTLE, POLL, || async {
            (!lab.zones[1].connected().await).then_some(())
        })
        .await;
        wait_for("the global to see zone-2 offline", SETTLE, POLL, || async {
            (lab.global.online_zones().await? == ["zone-1"]).then_some(())
        })
        .await;
        // Changed during the cut: zone-1 gets it at once, zone-2 only after the heal.
        lab.apply(Node::Global, TP_CUT).await;
        wait_for("allow-during-cut on zone-1", SETTLE, POLL, || async {
            (lab.zones[0].traffic_permissions().await?.len() == 2).then_some(())
        })
        .await;
        assert_eq!(lab.zones[1].traffic_permissions().await.unwrap(), ["allow-all"]);
        lab.heal(1).await;
        lab.wait_whole().await;
        wait_for("allow-during-cut on zone-2 after the heal", SETTLE, POLL, || async {
            let tps = lab.zones[1].traffic_permissions().await?;
            (tps == ["allow-all", "allow-during-cut"]).then_some(())
        })
        .await;
        let dps = lab.global.dataplanes().await.unwrap();
        assert_eq!(dps.len(), 4, "nothing lost or duplicated by the cut: {dps:?}");
    } else {
        eprintln!("no network to cut on loopback: the partition drill needs Docker");
    }

    let before = lab.zones[0].dp_certs().await.unwrap();
    let restarted = OffsetDateTime::now_utc();
    lab.restart_zone(0).await;
    for dp in PROXIES[0] {
        let cert = wait_for(
            &format!("{dp} back on zone-1 with a fresh certificate"),
            SETTLE,
            POLL,
            || async {
                let certs = lab.zones[0].dp_certs().await?;
                let cert = certs.get(dp)?.clone();
                let since = cert.connected_since.filter(|t| *t > restarted)?;
                cert.last_regeneration.filter(|t| *t >= since).map(|_| cert)
            },
        )
        .await;
        assert!(cert.regenerations > before[dp].regenerations, "{dp}: {cert:?}");
    }
    lab.wait_whole().await;
    assert_eq!(lab.global.dataplanes().await.unwrap().len(), 4);
}
