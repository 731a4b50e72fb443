//! Kuma's localhost-is-admin rule on the real listeners: decided by the peer address, the same
//! over HTTP/1, cleartext HTTP/2 (h2c) and HTTP/2 over TLS, whatever the `Host` header says.

use reqwest::StatusCode;
use testkit::Zone;

/// `GET /global-secrets` is admin-only: 200 for an admin, 403 for anyone else.
const ADMIN_ONLY: &str = "/global-secrets";

#[tokio::test]
async fn a_local_caller_is_admin_over_http1_h2c_and_h2_whatever_the_host_header() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Zone::start(dir.path(), &[]).await;
    let http = zone.addresses.http.unwrap();

    let http1 = shared::testing::cp::http_client();
    let url = format!("http://{http}{ADMIN_ONLY}");
    let resp = http1.get(&url).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(resp.status(), StatusCode::OK);
    // The Host header is the caller's to choose: it neither makes nor unmakes an admin.
    let resp = http1.get(&url).header("host", "cp.example.com:5681").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let h2c = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let resp = h2c.get(&url).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());

    let mut tls = kuma_core::tls::client_config(Some(&std::fs::read(&zone.ca).unwrap())).unwrap();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let h2 = reqwest::Client::builder().use_preconfigured_tls(tls).build().unwrap();
    let resp = h2.get(format!("{}{ADMIN_ONLY}", zone.https())).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK);

    // A local proxy relaying someone else's request is not the local admin, on either protocol.
    for client in [&http1, &h2c] {
        let resp = client.get(&url).header("x-forwarded-for", "192.0.2.7").send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
    zone.stop().await;
}
