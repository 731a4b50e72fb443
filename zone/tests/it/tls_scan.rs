//! A real TLS scanner (sslyze, from PyPI) against every TLS listener of a global and a zone on
//! loopback: the API over HTTPS (both), KDS (global), the DP server and MADS (zone). Each must
//! offer TLS 1.2+ only, no weak suite, and a chain that verifies with its configured CA.

use std::process::Command;

use kuma_core::shutdown;
use shared::testing::cp::config;

#[tokio::test(flavor = "multi_thread")]
async fn every_tls_listener_passes_an_sslyze_scan() {
    let probe = Command::new("python3").args(["-c", "import sslyze"]).output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "sslyze is missing: run scripts/install-deps (python3 -m pip install sslyze)"
    );
    let dir = tempfile::tempdir().unwrap();
    let global_dir = dir.path().join("global");
    // A scan opens hundreds of connections from one address: exactly what KDS's per-address
    // limits (burst 50) turn away, so they are off for the scanned global.
    let global_env = [
        ("KUMA_MODE", "global"),
        ("KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_PER_SECOND", "0"),
        ("KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_MAX_CONNECTIONS", "0"),
    ];
    let global = global::App::build(config(&global_dir, &global_env)).await.unwrap();
    let global_https = global.addresses().runtime.https.unwrap().port();
    let kds = global.addresses().kds.port();
    let zone_dir = dir.path().join("zone");
    let env = [("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED", "true")];
    let zone = zone::App::build(config(&zone_dir, &env)).await.unwrap();
    let zone_https = zone.addresses().https.unwrap().port();
    let dp = zone.dp_server_addr().port();
    let mads = zone.mads_addr().unwrap().port();
    let (global_trigger, shutdown) = shutdown::channel();
    let global_task = tokio::spawn(global.run(shutdown));
    let (zone_trigger, shutdown) = shutdown::channel();
    let zone_task = tokio::spawn(zone.run(shutdown));

    let global_ca = global_dir.join("kuma-cp.crt");
    let zone_ca = zone_dir.join("kuma-cp.crt");
    let targets = [
        (global_https, &global_ca),
        (kds, &global_ca),
        (zone_https, &zone_ca),
        (dp, &zone_ca),
        (mads, &zone_ca),
    ];
    let args: Vec<String> =
        targets.iter().map(|(port, ca)| format!("localhost:{port}={}", ca.display())).collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/tls_scan.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3").arg(script).args(&args).output().unwrap()
    })
    .await
    .unwrap();
    let report =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{report}");
    assert!(out.status.success(), "the scan found problems:\n{report}");
    assert_eq!(report.matches(" suites: ").count(), targets.len(), "{report}");

    // The same check with a CA that did not issue the KDS certificate must fail.
    let wrong = format!("localhost:{kds}={}", zone_ca.display());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3").arg(script).arg(wrong).output().unwrap()
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("FAIL the chain does not verify"), "{report}");

    zone_trigger.fire();
    global_trigger.fire();
    zone_task.await.unwrap().unwrap();
    global_task.await.unwrap().unwrap();
}
