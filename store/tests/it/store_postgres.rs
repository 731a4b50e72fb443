//! What only the PostgreSQL backend promises: every TLS mode and the client-certificate login,
//! against a real server.

use std::collections::BTreeMap;

use serde_json::json;
use store::testing::postgres::{MISMATCHED_HOST, TestPostgres};
use store::{Error, Key, PostgresConfig, PostgresTlsMode, Store, StoreConfig};

const ALL_MODES: [PostgresTlsMode; 4] = [
    PostgresTlsMode::Disable,
    PostgresTlsMode::VerifyNone,
    PostgresTlsMode::VerifyCa,
    PostgresTlsMode::VerifyFull,
];

async fn connect(config: PostgresConfig) -> Result<Store, Error> {
    Store::connect(&StoreConfig::Postgres(config)).await
}

/// Connects and proves the connection works with a write and a read.
async fn connects(config: PostgresConfig) {
    let context = format!("{} as {} to {}", config.tls.mode.as_str(), config.user, config.host);
    let store = connect(config).await.unwrap_or_else(|e| panic!("{context}: {e:?}"));
    assert_eq!(store.backend_name(), "postgres");
    let key = Key::global("Zone", &uuid::Uuid::new_v4().to_string());
    store.create(key.clone(), json!({}), BTreeMap::new()).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap().version, 1);
    store.close().await;
}

fn assert_refused(result: Result<Store, Error>, context: &str) {
    match result {
        Err(Error::Connect { .. }) => {}
        Err(other) => panic!("{context}: expected a connect error, got {other:?}"),
        Ok(_) => panic!("{context}: connected"),
    }
}

#[tokio::test]
async fn every_tls_mode_connects_with_a_password() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    for mode in ALL_MODES {
        connects(pg.config(mode)).await;
    }
}

#[tokio::test]
async fn verify_full_accepts_the_dns_name_in_the_certificate() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let mut config = pg.config(PostgresTlsMode::VerifyFull);
    config.host = "localhost".to_owned();
    connects(config).await;
}

#[tokio::test]
async fn verifying_modes_reject_a_server_signed_by_another_ca() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    for mode in [PostgresTlsMode::VerifyCa, PostgresTlsMode::VerifyFull] {
        let mut config = pg.config(mode);
        config.tls.ca_path = Some(pg.wrong_ca_path().to_path_buf());
        assert_refused(connect(config).await, mode.as_str());
    }
}

#[tokio::test]
async fn verify_none_ignores_the_ca() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let mut config = pg.config(PostgresTlsMode::VerifyNone);
    config.tls.ca_path = Some(pg.wrong_ca_path().to_path_buf());
    connects(config).await;
}

#[tokio::test]
async fn host_missing_from_the_certificate_fails_verify_full_but_passes_verify_ca() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let mut full = pg.config(PostgresTlsMode::VerifyFull);
    full.host = MISMATCHED_HOST.to_owned();
    assert_refused(connect(full).await, "verifyFull");

    let mut ca = pg.config(PostgresTlsMode::VerifyCa);
    ca.host = MISMATCHED_HOST.to_owned();
    connects(ca).await;
}

#[tokio::test]
async fn client_certificate_logs_in_the_cert_user() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    for mode in
        [PostgresTlsMode::VerifyNone, PostgresTlsMode::VerifyCa, PostgresTlsMode::VerifyFull]
    {
        connects(pg.cert_user_config(mode)).await;
    }
}

#[tokio::test]
async fn cert_user_without_a_certificate_is_refused() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    for mode in [PostgresTlsMode::Disable, PostgresTlsMode::VerifyFull] {
        let mut config = pg.cert_user_config(mode);
        config.tls.client_cert = None;
        assert_refused(connect(config).await, mode.as_str());
    }
}

#[tokio::test]
async fn wrong_password_is_refused() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let mut config = pg.config(PostgresTlsMode::VerifyFull);
    config.password = "not-kuma".to_owned().into();
    assert_refused(connect(config).await, "wrong password");
}

#[tokio::test]
async fn verifying_mode_without_a_ca_fails_before_connecting() {
    // No server needed: the settings are refused before any connection is tried.
    let config = PostgresConfig {
        host: "127.0.0.1".to_owned(),
        port: 1,
        user: "kuma".to_owned(),
        password: "kuma".to_owned().into(),
        db_name: "kuma".to_owned(),
        connection_timeout: std::time::Duration::from_secs(1),
        min_open_connections: 0,
        max_open_connections: 1,
        max_connection_idle_time: std::time::Duration::ZERO,
        max_connection_lifetime: std::time::Duration::ZERO,
        tls: store::PostgresTls {
            mode: PostgresTlsMode::VerifyFull,
            ca_path: None,
            client_cert: None,
            disable_sslsni: false,
        },
    };
    let err = connect(config).await.err().unwrap();
    assert!(matches!(err, Error::InvalidTls { .. }), "{err:?}");
    assert_eq!(err.to_string(), "TLS validation failed: CAPath cannot be empty");
}

#[tokio::test]
async fn unreachable_server_fails_with_host_and_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let mut config = pg.config(PostgresTlsMode::Disable);
    config.port = port;
    config.connection_timeout = std::time::Duration::from_secs(2);

    let err = connect(config).await.err().unwrap();
    assert_eq!(err.to_string(), format!("could not connect to postgres at 127.0.0.1:{port}"));
}
