//! The global's KDS listener follows its certificate files: replaced while the global runs, the
//! new certificate is what a real TLS client is presented within seconds, without a restart.

use std::time::Duration;

use testkit::Global;
use testkit::tls::{CertFiles, presented_leaf, wait_for_leaf};

#[tokio::test]
async fn kds_serves_its_replaced_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (files, first) = CertFiles::create(&dir.path().join("certs"));
    let vars = files.env("KUMA_MULTIZONE_GLOBAL_KDS_TLS");
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let global = Global::start(&dir.path().join("work"), &env).await;
    assert_eq!(presented_leaf(global.kds).await.as_deref(), Some(first.as_slice()));
    let second = files.replace();
    wait_for_leaf("KDS", global.kds, &second, Duration::from_secs(10)).await;
    global.stop().await;
}
