//! Every environment variable is read under its exact name: one row per variable, and a check
//! that the table covers every `KUMA_` name declared in the config sources.

use std::collections::BTreeSet;
use std::time::Duration;

use ::store::PostgresTlsMode;
use secrecy::ExposeSecret;

use super::*;

type Check = fn(&CpConfig) -> bool;
type Row = (&'static str, &'static str, &'static [(&'static str, &'static str)], Check);

/// `(variable, value, other variables it needs, what must hold)`. `{cert}`, `{key}` and `{ca}`
/// in values stand for existing files. Rows run with `KUMA_STORE_TYPE=postgres` unless they set
/// the type themselves.
const ROWS: &[Row] = &[
    ("KUMA_MODE", "global", &[], |c| c.mode == Mode::Global),
    ("KUMA_ENVIRONMENT", "universal", &[], |c| c.environment == Environment::Universal),
    ("KUMA_GENERAL_WORK_DIR", "/var/kuma", &[], |c| c.general.work_dir == Path::new("/var/kuma")),
    ("KUMA_GENERAL_TLS_CERT_FILE", "{cert}", &[("KUMA_GENERAL_TLS_KEY_FILE", "{key}")], |c| {
        c.general.tls_files.as_ref().is_some_and(|f| f.cert.ends_with("cert.pem"))
    }),
    ("KUMA_GENERAL_TLS_KEY_FILE", "{key}", &[("KUMA_GENERAL_TLS_CERT_FILE", "{cert}")], |c| {
        c.general.tls_files.as_ref().is_some_and(|f| f.key.ends_with("key.pem"))
    }),
    ("KUMA_GENERAL_TLS_MIN_VERSION", "TLSv1_3", &[], |c| {
        c.general.tls.min_version == TlsVersion::Tls13
    }),
    ("KUMA_GENERAL_TLS_MAX_VERSION", "TLSv1_2", &[], |c| {
        c.general.tls.max_version == Some(TlsVersion::Tls12)
    }),
    ("KUMA_GENERAL_TLS_CIPHER_SUITES", "TLS_AES_128_GCM_SHA256", &[], |c| {
        c.general.tls.cipher_suites == ["TLS_AES_128_GCM_SHA256"]
    }),
    ("KUMA_GENERAL_AUDIT_LOG_FILE", "/var/log/kuma-audit.log", &[], |c| {
        c.general.audit_log_file == Path::new("/var/log/kuma-audit.log")
    }),
    ("KUMA_GENERAL_DNS_CACHE_TTL", "3s", &[], |c| {
        c.general.dns_cache_ttl == Duration::from_secs(3)
    }),
    ("KUMA_GENERAL_RESILIENT_COMPONENT_BASE_BACKOFF", "2s", &[], |c| {
        c.general.resilient_component_base_backoff == Duration::from_secs(2)
    }),
    ("KUMA_GENERAL_RESILIENT_COMPONENT_MAX_BACKOFF", "2m", &[], |c| {
        c.general.resilient_component_max_backoff == Duration::from_secs(120)
    }),
    ("KUMA_STORE_TYPE", "memory", &[], |c| matches!(c.store, StoreConfig::Memory)),
    (
        "KUMA_STORE_SQLITE_PATH",
        "/data/k.db",
        &[("KUMA_STORE_TYPE", "sqlite")],
        |c| matches!(&c.store, StoreConfig::Sqlite { path } if path == Path::new("/data/k.db")),
    ),
    ("KUMA_STORE_POSTGRES_HOST", "db.local", &[], |c| pg(c).host == "db.local"),
    ("KUMA_STORE_POSTGRES_PORT", "5432", &[], |c| pg(c).port == 5432),
    ("KUMA_STORE_POSTGRES_USER", "admin", &[], |c| pg(c).user == "admin"),
    ("KUMA_STORE_POSTGRES_PASSWORD", "s3cret", &[], |c| store::password(pg(c)) == "s3cret"),
    ("KUMA_STORE_POSTGRES_DB_NAME", "mesh", &[], |c| pg(c).db_name == "mesh"),
    ("KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT", "9", &[], |c| {
        pg(c).connection_timeout == Duration::from_secs(9)
    }),
    ("KUMA_STORE_POSTGRES_MIN_OPEN_CONNECTIONS", "2", &[], |c| pg(c).min_open_connections == 2),
    ("KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS", "7", &[], |c| pg(c).max_open_connections == 7),
    ("KUMA_STORE_POSTGRES_MAX_CONNECTION_IDLE_TIME", "1m", &[], |c| {
        pg(c).max_connection_idle_time == Duration::from_secs(60)
    }),
    ("KUMA_STORE_POSTGRES_MAX_CONNECTION_LIFETIME", "2h", &[], |c| {
        pg(c).max_connection_lifetime == Duration::from_secs(7200)
    }),
    (
        "KUMA_STORE_POSTGRES_TLS_MODE",
        "verifyFull",
        &[("KUMA_STORE_POSTGRES_TLS_CA_PATH", "{ca}")],
        |c| pg(c).tls.mode == PostgresTlsMode::VerifyFull,
    ),
    ("KUMA_STORE_POSTGRES_TLS_CA_PATH", "{ca}", &[], |c| {
        pg(c).tls.ca_path.as_ref().is_some_and(|p| p.ends_with("ca.pem"))
    }),
    (
        "KUMA_STORE_POSTGRES_TLS_CERT_PATH",
        "{cert}",
        &[("KUMA_STORE_POSTGRES_TLS_KEY_PATH", "{key}")],
        |c| pg(c).tls.client_cert.as_ref().is_some_and(|f| f.cert_path.ends_with("cert.pem")),
    ),
    (
        "KUMA_STORE_POSTGRES_TLS_KEY_PATH",
        "{key}",
        &[("KUMA_STORE_POSTGRES_TLS_CERT_PATH", "{cert}")],
        |c| pg(c).tls.client_cert.as_ref().is_some_and(|f| f.key_path.ends_with("key.pem")),
    ),
    ("KUMA_STORE_POSTGRES_TLS_DISABLE_SSLSNI", "true", &[], |c| pg(c).tls.disable_sslsni),
    ("KUMA_API_SERVER_HTTP_ENABLED", "false", &[], |c| !c.api_server.http.enabled),
    ("KUMA_API_SERVER_HTTP_INTERFACE", "127.0.0.1", &[], |c| {
        c.api_server.http.interface.to_string() == "127.0.0.1"
    }),
    ("KUMA_API_SERVER_HTTP_PORT", "0", &[], |c| c.api_server.http.port == 0),
    ("KUMA_API_SERVER_HTTPS_ENABLED", "false", &[], |c| !c.api_server.https.listener.enabled),
    ("KUMA_API_SERVER_HTTPS_INTERFACE", "::1", &[], |c| {
        c.api_server.https.listener.interface.to_string() == "::1"
    }),
    ("KUMA_API_SERVER_HTTPS_PORT", "8443", &[], |c| c.api_server.https.listener.port == 8443),
    (
        "KUMA_API_SERVER_HTTPS_TLS_CERT_FILE",
        "{cert}",
        &[("KUMA_API_SERVER_HTTPS_TLS_KEY_FILE", "{key}")],
        |c| c.api_server.https.tls_files.is_some(),
    ),
    (
        "KUMA_API_SERVER_HTTPS_TLS_KEY_FILE",
        "{key}",
        &[("KUMA_API_SERVER_HTTPS_TLS_CERT_FILE", "{cert}")],
        |c| c.api_server.https.tls_files.is_some(),
    ),
    ("KUMA_API_SERVER_HTTPS_TLS_MIN_VERSION", "TLSv1_3", &[], |c| {
        c.api_server.https.tls.min_version == TlsVersion::Tls13
    }),
    ("KUMA_API_SERVER_HTTPS_TLS_MAX_VERSION", "TLSv1_3", &[], |c| {
        c.api_server.https.tls.max_version == Some(TlsVersion::Tls13)
    }),
    ("KUMA_API_SERVER_HTTPS_TLS_CIPHER_SUITES", "TLS_AES_256_GCM_SHA384", &[], |c| {
        c.api_server.https.tls.cipher_suites == ["TLS_AES_256_GCM_SHA384"]
    }),
    ("KUMA_API_SERVER_HTTPS_REQUIRE_CLIENT_CERT", "true", &[], |c| {
        c.api_server.https.require_client_cert
    }),
    ("KUMA_API_SERVER_HTTPS_TLS_CA_FILE", "{ca}", &[], |c| {
        c.api_server.https.tls_ca_file.is_some()
    }),
    ("KUMA_API_SERVER_AUTHN_TYPE", "adminClientCerts", &[], |c| {
        c.api_server.authn.kind == AuthnType::AdminClientCerts
    }),
    ("KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN", "false", &[], |c| {
        !c.api_server.authn.localhost_is_admin
    }),
    ("KUMA_API_SERVER_AUTHN_TOKENS_BOOTSTRAP_ADMIN_TOKEN", "false", &[], |c| {
        !c.api_server.authn.tokens.bootstrap_admin_token
    }),
    ("KUMA_API_SERVER_AUTHN_TOKENS_ENABLE_ISSUER", "false", &[], |c| {
        !c.api_server.authn.tokens.enable_issuer
    }),
    ("KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_USE_SECRETS", "false", &[], |c| {
        !c.api_server.authn.tokens.use_secrets
    }),
    ("KUMA_API_SERVER_AUTHN_ANONYMOUS_CAN_WRITE", "true", &[], |c| {
        c.api_server.authn.anonymous_can_write
    }),
    ("KUMA_API_SERVER_READ_ONLY", "true", &[], |c| c.api_server.read_only),
    ("KUMA_API_SERVER_CORS_ALLOWED_DOMAINS", "a.com, .*\\.b\\.com", &[], |c| {
        c.api_server.cors_allowed_domains == ["a.com", ".*\\.b\\.com"]
    }),
    ("KUMA_API_SERVER_READ_HEADER_TIMEOUT", "2s", &[], |c| {
        c.api_server.read_header_timeout == Duration::from_secs(2)
    }),
    ("KUMA_API_SERVER_READ_TIMEOUT", "3s", &[], |c| {
        c.api_server.read_timeout == Duration::from_secs(3)
    }),
    ("KUMA_API_SERVER_WRITE_TIMEOUT", "4s", &[], |c| {
        c.api_server.write_timeout == Duration::from_secs(4)
    }),
    ("KUMA_API_SERVER_IDLE_TIMEOUT", "5s", &[], |c| {
        c.api_server.idle_timeout == Duration::from_secs(5)
    }),
    ("KUMA_API_SERVER_MAX_BODY_BYTES", "2048", &[], |c| c.api_server.max_body_bytes == 2048),
    ("KUMA_API_SERVER_RATE_LIMIT_TOKENS_PER_SECOND", "3", &[], |c| {
        c.api_server.tokens_rate_limit.per_second == 3
    }),
    ("KUMA_API_SERVER_RATE_LIMIT_TOKENS_BURST", "4", &[], |c| {
        c.api_server.tokens_rate_limit.burst == 4
    }),
    ("KUMA_API_SERVER_RATE_LIMIT_TOKENS_MAX_IN_FLIGHT", "0", &[], |c| {
        c.api_server.tokens_rate_limit.max_concurrent == 0
    }),
    ("KUMA_DIAGNOSTICS_SERVER_PORT", "1", &[], |c| c.diagnostics.server_port == 1),
    ("KUMA_DIAGNOSTICS_TLS_ENABLED", "true", &[], |c| c.diagnostics.tls_enabled),
    (
        "KUMA_DIAGNOSTICS_TLS_CERT_FILE",
        "{cert}",
        &[("KUMA_DIAGNOSTICS_TLS_KEY_FILE", "{key}")],
        |c| c.diagnostics.tls_files.is_some(),
    ),
    (
        "KUMA_DIAGNOSTICS_TLS_KEY_FILE",
        "{key}",
        &[("KUMA_DIAGNOSTICS_TLS_CERT_FILE", "{cert}")],
        |c| c.diagnostics.tls_files.is_some(),
    ),
    ("KUMA_DIAGNOSTICS_TLS_MIN_VERSION", "TLSv1_3", &[], |c| {
        c.diagnostics.tls.min_version == TlsVersion::Tls13
    }),
    ("KUMA_DIAGNOSTICS_TLS_MAX_VERSION", "TLSv1_3", &[], |c| {
        c.diagnostics.tls.max_version == Some(TlsVersion::Tls13)
    }),
    ("KUMA_DIAGNOSTICS_TLS_CIPHER_SUITES", "TLS_CHACHA20_POLY1305_SHA256", &[], |c| {
        c.diagnostics.tls.cipher_suites.len() == 1
    }),
    ("KUMA_DP_SERVER_PORT", "2", &[], |c| c.dp_server.port == 2),
    ("KUMA_DP_SERVER_TLS_CERT_FILE", "{cert}", &[("KUMA_DP_SERVER_TLS_KEY_FILE", "{key}")], |c| {
        c.dp_server.tls_files.is_some()
    }),
    ("KUMA_DP_SERVER_TLS_KEY_FILE", "{key}", &[("KUMA_DP_SERVER_TLS_CERT_FILE", "{cert}")], |c| {
        c.dp_server.tls_files.is_some()
    }),
    ("KUMA_DP_SERVER_TLS_MIN_VERSION", "TLSv1_3", &[], |c| {
        c.dp_server.tls.min_version == TlsVersion::Tls13
    }),
    ("KUMA_DP_SERVER_TLS_MAX_VERSION", "TLSv1_3", &[], |c| {
        c.dp_server.tls.max_version == Some(TlsVersion::Tls13)
    }),
    ("KUMA_DP_SERVER_TLS_CIPHER_SUITES", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", &[], |c| {
        c.dp_server.tls.cipher_suites.len() == 1
    }),
    ("KUMA_DP_SERVER_READ_HEADER_TIMEOUT", "1s", &[], |c| {
        c.dp_server.read_header_timeout == Duration::from_secs(1)
    }),
    ("KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE", "none", &[], |c| {
        c.dp_server.dp_proxy_authn == DpProxyAuthn::None
    }),
    ("KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE", "none", &[], |c| {
        c.dp_server.zone_proxy_authn == ZoneProxyAuthn::None
    }),
    ("KUMA_DP_SERVER_MAX_MSG_SIZE", "4096", &[], |c| c.dp_server.max_msg_size == 4096),
    ("KUMA_DP_SERVER_RATE_LIMIT_PER_SECOND", "0", &[], |c| {
        c.dp_server.rate_limit.per_second == 0 && c.dp_server.rate_limit.burst == 1000
    }),
    ("KUMA_DP_SERVER_RATE_LIMIT_BURST", "7", &[], |c| c.dp_server.rate_limit.burst == 7),
    ("KUMA_DP_SERVER_RATE_LIMIT_MAX_CONNECTIONS", "8", &[], |c| {
        c.dp_server.rate_limit.max_concurrent == 8
    }),
    ("KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_ENABLE_ISSUER", "false", &[], |c| {
        !c.dp_server.dp_token.enable_issuer
    }),
    ("KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_VALIDATOR_USE_SECRETS", "false", &[], |c| {
        !c.dp_server.dp_token.use_secrets
    }),
    ("KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_ENABLE_ISSUER", "false", &[], |c| {
        !c.dp_server.zone_token.enable_issuer
    }),
    ("KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_VALIDATOR_USE_SECRETS", "false", &[], |c| {
        !c.dp_server.zone_token.use_secrets
    }),
    ("KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT", "6000", &[], |c| c.multizone.global.grpc_port == 6000),
    ("KUMA_MULTIZONE_GLOBAL_KDS_REFRESH_INTERVAL", "2s", &[], |c| {
        c.multizone.global.refresh_interval == Duration::from_secs(2)
    }),
    ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_ENABLED", "false", &[], |c| !c.multizone.global.tls_enabled),
    (
        "KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE",
        "{cert}",
        &[("KUMA_MULTIZONE_GLOBAL_KDS_TLS_KEY_FILE", "{key}")],
        |c| c.multizone.global.tls_files.is_some(),
    ),
    (
        "KUMA_MULTIZONE_GLOBAL_KDS_TLS_KEY_FILE",
        "{key}",
        &[("KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE", "{cert}")],
        |c| c.multizone.global.tls_files.is_some(),
    ),
    ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_MIN_VERSION", "TLSv1_3", &[], |c| {
        c.multizone.global.tls.min_version == TlsVersion::Tls13
    }),
    ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_MAX_VERSION", "TLSv1_3", &[], |c| {
        c.multizone.global.tls.max_version == Some(TlsVersion::Tls13)
    }),
    (
        "KUMA_MULTIZONE_GLOBAL_KDS_TLS_CIPHER_SUITES",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        &[],
        |c| {
            c.multizone.global.tls.cipher_suites
                == ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"]
        },
    ),
    ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_CLIENT_CA_FILE", "{ca}", &[], |c| {
        c.multizone.global.client_ca_file.as_ref().is_some_and(|f| f.ends_with("ca.pem"))
    }),
    ("KUMA_MULTIZONE_GLOBAL_KDS_AUTH_TYPE", "none", &[], |c| {
        c.multizone.global.auth == KdsAuth::None
    }),
    ("KUMA_MULTIZONE_GLOBAL_KDS_MAX_MSG_SIZE", "1024", &[], |c| {
        c.multizone.global.max_msg_size == 1024
    }),
    ("KUMA_MULTIZONE_GLOBAL_KDS_ALLOWED_CIDRS", "10.0.0.0/8,192.168.1.7", &[], |c| {
        c.multizone.global.allowed_cidrs.len() == 2
    }),
    ("KUMA_MULTIZONE_GLOBAL_KDS_NACK_BACKOFF", "1s", &[], |c| {
        c.multizone.global.nack_backoff == Duration::from_secs(1)
    }),
    ("KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_PER_SECOND", "9", &[], |c| {
        c.multizone.global.rate_limit.per_second == 9
    }),
    ("KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_BURST", "10", &[], |c| {
        c.multizone.global.rate_limit.burst == 10
    }),
    ("KUMA_MULTIZONE_GLOBAL_KDS_RATE_LIMIT_MAX_CONNECTIONS", "11", &[], |c| {
        c.multizone.global.rate_limit.max_concurrent == 11
    }),
    (
        "KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_POLL_INTERVAL",
        "10s",
        &[("KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_TIMEOUT", "1m")],
        |c| {
            c.multizone
                .global
                .zone_health_check
                .is_some_and(|h| h.poll_interval == Duration::from_secs(10))
        },
    ),
    (
        "KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_TIMEOUT",
        "1m",
        &[("KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_POLL_INTERVAL", "10s")],
        |c| {
            c.multizone
                .global
                .zone_health_check
                .is_some_and(|h| h.timeout == Duration::from_secs(60))
        },
    ),
    ("KUMA_MULTIZONE_ZONE_NAME", "west-1", &[], |c| c.multizone.zone.name.as_str() == "west-1"),
    ("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", "grpcs://global:5685", &[], |c| {
        c.is_federated_zone()
            && c.multizone.zone.global_address.as_ref().is_some_and(|a| {
                a.scheme() == GlobalScheme::Grpcs && a.authority() == "global:5685"
            })
    }),
    ("KUMA_MULTIZONE_ZONE_KDS_REFRESH_INTERVAL", "3s", &[], |c| {
        c.multizone.zone.refresh_interval == Duration::from_secs(3)
    }),
    ("KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE", "{ca}", &[], |c| {
        c.multizone.zone.root_ca_file.is_some()
    }),
    ("KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY", "true", &[], |c| c.multizone.zone.tls_skip_verify),
    (
        "KUMA_MULTIZONE_ZONE_KDS_TLS_CERT_FILE",
        "{cert}",
        &[("KUMA_MULTIZONE_ZONE_KDS_TLS_KEY_FILE", "{key}")],
        |c| c.multizone.zone.client_tls.as_ref().is_some_and(|f| f.cert.ends_with("cert.pem")),
    ),
    (
        "KUMA_MULTIZONE_ZONE_KDS_TLS_KEY_FILE",
        "{key}",
        &[("KUMA_MULTIZONE_ZONE_KDS_TLS_CERT_FILE", "{cert}")],
        |c| c.multizone.zone.client_tls.as_ref().is_some_and(|f| f.key.ends_with("key.pem")),
    ),
    (
        "KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH",
        "{ca}",
        &[],
        |c| matches!(&c.multizone.zone.cp_token, Some(CpToken::Path(p)) if p.ends_with("ca.pem")),
    ),
    ("KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_INLINE", "eyJhbGciOi.token", &[], |c| {
        matches!(&c.multizone.zone.cp_token,
                Some(CpToken::Inline(t)) if t.expose_secret() == "eyJhbGciOi.token")
    }),
    ("KUMA_MULTIZONE_ZONE_KDS_MAX_MSG_SIZE", "99", &[], |c| c.multizone.zone.max_msg_size == 99),
    ("KUMA_MONITORING_ASSIGNMENT_SERVER_ENABLED", "false", &[], |c| {
        !c.monitoring_assignment_server.enabled
    }),
    ("KUMA_MONITORING_ASSIGNMENT_SERVER_PORT", "3", &[], |c| {
        c.monitoring_assignment_server.port == 3
    }),
    // v1 is the only version, so the row lists it twice to tell the setting from the default.
    ("KUMA_MONITORING_ASSIGNMENT_SERVER_API_VERSIONS", "v1,v1", &[], |c| {
        c.monitoring_assignment_server.api_versions == ["v1", "v1"]
    }),
    ("KUMA_MONITORING_ASSIGNMENT_SERVER_DEFAULT_FETCH_TIMEOUT", "2s", &[], |c| {
        c.monitoring_assignment_server.default_fetch_timeout == Duration::from_secs(2)
    }),
    ("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED", "true", &[], |c| {
        c.monitoring_assignment_server.tls_enabled
    }),
    (
        "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_CERT_FILE",
        "{cert}",
        &[("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_KEY_FILE", "{key}")],
        |c| c.monitoring_assignment_server.tls_files.is_some(),
    ),
    (
        "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_KEY_FILE",
        "{key}",
        &[("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_CERT_FILE", "{cert}")],
        |c| c.monitoring_assignment_server.tls_files.is_some(),
    ),
    ("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_MIN_VERSION", "TLSv1_3", &[], |c| {
        c.monitoring_assignment_server.tls.min_version == TlsVersion::Tls13
    }),
    ("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_MAX_VERSION", "TLSv1_3", &[], |c| {
        c.monitoring_assignment_server.tls.max_version == Some(TlsVersion::Tls13)
    }),
    ("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_CIPHER_SUITES", "TLS_AES_128_GCM_SHA256", &[], |c| {
        c.monitoring_assignment_server.tls.cipher_suites.len() == 1
    }),
    ("KUMA_ACCESS_TYPE", "static", &[], |_| true),
    ("KUMA_DEFAULTS_SKIP_MESH_CREATION", "true", &[], |c| c.defaults.skip_mesh_creation),
    ("KUMA_ACCESS_STATIC_ADMIN_RESOURCES_USERS", "alice,bob", &[], |c| {
        c.access.admin_resources.users == ["alice", "bob"]
    }),
    ("KUMA_ACCESS_STATIC_ADMIN_RESOURCES_GROUPS", "ops", &[], |c| {
        c.access.admin_resources.groups == ["ops"]
    }),
    ("KUMA_ACCESS_STATIC_GENERATE_DP_TOKEN_USERS", "u", &[], |c| {
        c.access.generate_dp_token.users == ["u"]
    }),
    ("KUMA_ACCESS_STATIC_GENERATE_DP_TOKEN_GROUPS", "g", &[], |c| {
        c.access.generate_dp_token.groups == ["g"]
    }),
    ("KUMA_ACCESS_STATIC_GENERATE_USER_TOKEN_USERS", "u", &[], |c| {
        c.access.generate_user_token.users == ["u"]
    }),
    ("KUMA_ACCESS_STATIC_GENERATE_USER_TOKEN_GROUPS", "g", &[], |c| {
        c.access.generate_user_token.groups == ["g"]
    }),
    ("KUMA_ACCESS_STATIC_GENERATE_ZONE_TOKEN_USERS", "u", &[], |c| {
        c.access.generate_zone_token.users == ["u"]
    }),
    ("KUMA_ACCESS_STATIC_GENERATE_ZONE_TOKEN_GROUPS", "g", &[], |c| {
        c.access.generate_zone_token.groups == ["g"]
    }),
    ("KUMA_XDS_DATAPLANE_STATUS_FLUSH_INTERVAL", "2s", &[], |c| {
        c.dp_server.xds_status_flush_interval == std::time::Duration::from_secs(2)
    }),
    ("KUMA_DEFAULTS_CREATE_MESH_ROUTING_RESOURCES", "true", &[], |c| {
        c.defaults.create_mesh_routing_resources
    }),
];

fn pg(c: &CpConfig) -> &::store::PostgresConfig {
    match &c.store {
        StoreConfig::Postgres(pg) => pg,
        other => panic!("expected postgres, got {other:?}"),
    }
}

#[test]
fn every_variable_is_read_under_its_name() {
    let files = Files::new();
    let fill = |v: &str| {
        v.replace("{cert}", &files.path("cert.pem"))
            .replace("{key}", &files.path("key.pem"))
            .replace("{ca}", &files.path("ca.pem"))
    };
    for (name, value, extra, check) in ROWS {
        let mut env: HashMap<String, String> = HashMap::from([
            ("HOME".to_owned(), "/home/kuma".to_owned()),
            ("KUMA_STORE_TYPE".to_owned(), "postgres".to_owned()),
        ]);
        for (k, v) in extra.iter().chain([(*name, *value)].iter()) {
            env.insert((*k).to_owned(), fill(v));
        }
        let config = load(&env, None).unwrap_or_else(|e| panic!("{name}={value}: {e}"));
        assert!(check(&config), "{name}={value} did not take effect");
        // The same value must not already be the default, or the row would prove nothing.
        let base = load(&source(&[("KUMA_STORE_TYPE", "postgres")]), None).unwrap();
        if *name != "KUMA_ENVIRONMENT" && *name != "KUMA_ACCESS_TYPE" {
            assert!(!check(&base), "{name}: the row's check also holds for the defaults");
        }
    }
}

#[test]
fn the_table_covers_every_declared_variable() {
    let sources = [
        include_str!("../../config.rs"),
        include_str!("../access.rs"),
        include_str!("../api_server.rs"),
        include_str!("../general.rs"),
        include_str!("../multizone.rs"),
        include_str!("../multizone/zone.rs"),
        include_str!("../servers.rs"),
        include_str!("../store.rs"),
        include_str!("../tokens.rs"),
    ];
    let declared: BTreeSet<&str> = sources
        .iter()
        .flat_map(|s| s.split('"'))
        .filter(|token| {
            token.starts_with("KUMA_")
                && token.bytes().all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
        })
        .collect();
    let tested: BTreeSet<&str> = ROWS.iter().map(|row| row.0).collect();
    let untested: Vec<_> = declared.difference(&tested).collect();
    assert!(untested.is_empty(), "variables without a row: {untested:?}");
    assert!(declared.len() > 90, "only {} names found", declared.len());
}

/// A source that records every name the loader asks for.
struct Recording<'a>(HashMap<&'a str, &'a str>, std::cell::RefCell<BTreeSet<String>>);

impl Source for Recording<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.1.borrow_mut().insert(key.to_owned());
        self.0.get(key).map(|v| (*v).to_owned())
    }
}

#[test]
fn every_listener_port_variable_is_in_listener_ports() {
    // The store's port is where kuma-cp connects, not a listener.
    const NOT_LISTENERS: [&str; 1] = ["KUMA_STORE_POSTGRES_PORT"];
    let mut read = BTreeSet::new();
    for mode in ["zone", "global"] {
        let recording = Recording(source(&[("KUMA_MODE", mode)]), Default::default());
        load(&recording, None).unwrap();
        read.extend(recording.1.into_inner());
    }
    let ports: BTreeSet<&str> = read
        .iter()
        .map(String::as_str)
        .filter(|k| k.ends_with("_PORT") && !NOT_LISTENERS.contains(k))
        .collect();
    assert_eq!(ports, LISTENER_PORTS.into_iter().collect::<BTreeSet<_>>());
}
