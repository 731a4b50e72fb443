use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::*;

const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

fn defaults() -> CpConfig {
    load_env(&[]).unwrap()
}

#[test]
fn mode_environment_and_general_default_as_in_kuma() {
    let c = defaults();
    assert_eq!(c.mode, Mode::Zone);
    assert_eq!(c.environment, Environment::Universal);
    assert_eq!(c.general.work_dir, PathBuf::from("/home/kuma/.kuma"));
    assert_eq!(c.general.tls_files, None);
    assert_eq!(c.general.tls, TlsSettings::default());
    assert_eq!(c.general.tls.min_version, TlsVersion::Tls12);
    assert_eq!(c.general.dns_cache_ttl, Duration::from_secs(10));
    assert_eq!(c.general.resilient_component_base_backoff, Duration::from_secs(5));
    assert_eq!(c.general.resilient_component_max_backoff, Duration::from_secs(60));
    assert_eq!(c.general.audit_log_file, PathBuf::from("/home/kuma/.kuma/audit.log"));
    assert!(c.ignored_keys.is_empty() && c.ignored_env.is_empty());
}

#[test]
fn store_defaults_to_sqlite_in_the_work_dir() {
    let c = defaults();
    let StoreConfig::Sqlite { path } = c.store else {
        panic!("expected sqlite, got {:?}", c.store);
    };
    assert_eq!(path, PathBuf::from("/home/kuma/.kuma/kuma.db"));
}

#[test]
fn postgres_defaults_as_in_kuma() {
    let c = load_env(&[("KUMA_STORE_TYPE", "postgres")]).unwrap();
    let StoreConfig::Postgres(pg) = c.store else {
        panic!("expected postgres");
    };
    assert_eq!(pg.host, "127.0.0.1");
    assert_eq!(pg.port, 15432);
    assert_eq!(pg.user, "kuma");
    assert_eq!(store::password(&pg), "kuma");
    assert_eq!(pg.db_name, "kuma");
    assert_eq!(pg.connection_timeout, Duration::from_secs(5));
    assert_eq!(pg.min_open_connections, 0);
    assert_eq!(pg.max_open_connections, 50);
    assert_eq!(pg.max_connection_idle_time, Duration::from_secs(1800));
    assert_eq!(pg.max_connection_lifetime, Duration::from_secs(3600));
    assert_eq!(pg.tls.mode, ::store::PostgresTlsMode::Disable);
    assert!(pg.tls.ca_path.is_none() && pg.tls.client_cert.is_none());
    assert!(!pg.tls.disable_sslsni);
}

#[test]
fn api_server_defaults_as_in_kuma() {
    let a = defaults().api_server;
    let http = Listener { enabled: true, interface: ANY, port: 5681 };
    assert_eq!(a.http, http);
    assert_eq!(a.https.listener, Listener { port: 5682, ..http });
    assert_eq!(a.https.tls_files, None);
    assert_eq!(a.https.tls, TlsSettings::default());
    assert!(!a.https.require_client_cert);
    assert_eq!(a.https.tls_ca_file, None);
    let authn = Authn {
        kind: AuthnType::Tokens,
        localhost_is_admin: true,
        tokens: UserTokens {
            bootstrap_admin_token: true,
            enable_issuer: true,
            use_secrets: true,
            public_keys: Vec::new(),
        },
        anonymous_can_write: false,
    };
    assert_eq!(a.authn, authn);
    assert!(!a.read_only);
    assert!(a.cors_allowed_domains.is_empty());
    assert_eq!(a.read_header_timeout, Duration::from_secs(1));
    assert_eq!(a.read_timeout, Duration::from_secs(10));
    assert_eq!(a.write_timeout, Duration::from_secs(30));
    assert_eq!(a.idle_timeout, Duration::from_secs(120));
    assert_eq!(a.max_body_bytes, 1024 * 1024);
    assert_eq!(a.tokens_rate_limit, RateLimit { per_second: 20, burst: 100, max_concurrent: 10 });
}

#[test]
fn small_servers_default_as_in_kuma() {
    let c = defaults();
    assert_eq!(c.diagnostics.server_port, 5680);
    assert!(!c.diagnostics.tls_enabled);
    assert_eq!(c.diagnostics.tls_files, None);
    assert_eq!(c.dp_server.port, 5678);
    assert_eq!(c.dp_server.tls_files, None);
    assert_eq!(c.dp_server.tls, TlsSettings::default());
    assert_eq!(c.dp_server.read_header_timeout, Duration::from_secs(5));
    assert_eq!(c.dp_server.dp_proxy_authn, DpProxyAuthn::DpToken);
    assert_eq!(c.dp_server.zone_proxy_authn, ZoneProxyAuthn::ZoneToken);
    assert_eq!(c.dp_server.max_msg_size, 1024 * 1024);
    assert_eq!(
        c.dp_server.rate_limit,
        RateLimit { per_second: 100, burst: 1000, max_concurrent: 5000 }
    );
    let dp_token = DpTokens { enable_issuer: true, use_secrets: true, public_keys: Vec::new() };
    assert_eq!(c.dp_server.dp_token, dp_token);
    let zone_token = ZoneTokens { enable_issuer: true, use_secrets: true, public_keys: Vec::new() };
    assert_eq!(c.dp_server.zone_token, zone_token);
    let mads = &c.monitoring_assignment_server;
    assert!(mads.enabled);
    assert_eq!(mads.port, 5676);
    assert!(!mads.tls_enabled);
    assert_eq!(mads.tls_files, None);
}

#[test]
fn multizone_defaults_as_in_kuma() {
    let c = defaults();
    let g = &c.multizone.global;
    assert_eq!(g.grpc_port, 5685);
    assert_eq!(g.refresh_interval, Duration::from_secs(1));
    assert!(g.tls_enabled);
    assert_eq!(g.tls_files, None);
    assert_eq!(g.tls, TlsSettings::default());
    assert_eq!(g.max_msg_size, 10_485_760);
    assert_eq!(g.rate_limit, RateLimit { per_second: 5, burst: 50, max_concurrent: 100 });
    assert!(g.allowed_cidrs.is_empty());
    assert_eq!(g.nack_backoff, Duration::from_secs(5));
    assert_eq!(g.zone_health_check, None);
    assert_eq!(g.client_ca_file, None);
    assert_eq!(g.auth, KdsAuth::ZoneToken);
    let z = &c.multizone.zone;
    assert_eq!(z.name.as_str(), "default");
    assert_eq!(z.global_address, None);
    assert_eq!(z.refresh_interval, Duration::from_secs(1));
    assert_eq!(z.root_ca_file, None);
    assert!(!z.tls_skip_verify);
    assert_eq!(z.client_tls, None);
    assert!(z.cp_token.is_none());
    assert_eq!(z.max_msg_size, 10_485_760);
    assert!(!c.is_federated_zone());
}

#[test]
fn access_lists_default_to_the_admin_group() {
    let a = defaults().access;
    for allowed in
        [&a.admin_resources, &a.generate_dp_token, &a.generate_user_token, &a.generate_zone_token]
    {
        assert!(allowed.users.is_empty());
        assert_eq!(allowed.groups, ["mesh-system:admin"]);
    }
}

#[test]
fn the_audit_log_follows_the_work_dir() {
    let c = load_env(&[("KUMA_GENERAL_WORK_DIR", "/srv/kuma")]).unwrap();
    assert_eq!(c.general.audit_log_file, PathBuf::from("/srv/kuma/audit.log"));
}

#[test]
fn empty_values_count_as_unset() {
    let c = load_env(&[("KUMA_API_SERVER_HTTP_PORT", ""), ("KUMA_MODE", "")]).unwrap();
    assert_eq!(c.api_server.http.port, 5681);
    assert_eq!(c.mode, Mode::Zone);
}
