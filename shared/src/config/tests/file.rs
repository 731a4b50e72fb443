//! The YAML file, its precedence under the environment, TLS merging and the redacted dumps.

use std::time::Duration;

use super::*;

const FILE: &str = r#"
mode: global
general:
  workDir: /srv/kuma
  tlsMinVersion: TLSv1_3
store:
  type: postgres
  postgres:
    host: db.example
    port: 6432
    password: file-password
    tls:
      mode: disable
apiServer:
  http:
    port: 1111
  https:
    port: 2222
  corsAllowedDomains: [a.com, b.com]
dpServer:
  tlsMinVersion: TLSv1_2
multizone:
  global:
    kds:
      grpcPort: 7777
      zoneHealthCheck:
        pollInterval: 5s
        timeout: 1m
"#;

#[test]
fn file_values_apply_and_env_overrides_them() {
    let files = Files::new();
    let path = files.write("kuma-cp.yaml", FILE);
    let env =
        source(&[("KUMA_API_SERVER_HTTP_PORT", "3333"), ("KUMA_STORE_POSTGRES_HOST", "env-db")]);
    let c = load(&env, Some(&path)).unwrap();
    assert_eq!(c.mode, Mode::Global);
    assert_eq!(c.general.work_dir, PathBuf::from("/srv/kuma"));
    assert_eq!(c.api_server.http.port, 3333, "env wins over the file");
    assert_eq!(c.api_server.https.listener.port, 2222, "file wins over the default");
    assert_eq!(c.api_server.cors_allowed_domains, ["a.com", "b.com"]);
    assert_eq!(c.multizone.global.grpc_port, 7777);
    let health = c.multizone.global.zone_health_check.unwrap();
    assert_eq!(health.timeout, Duration::from_secs(60));
    let StoreConfig::Postgres(pg) = &c.store else {
        panic!("expected postgres");
    };
    assert_eq!((pg.host.as_str(), pg.port), ("env-db", 6432));
    assert_eq!(store::password(pg), "file-password");
}

#[test]
fn a_server_tls_min_version_wins_over_the_general_one() {
    let files = Files::new();
    let path = files.write("kuma-cp.yaml", FILE);
    let c = load(&source(&[]), Some(&path)).unwrap();
    assert_eq!(c.general.tls.min_version, TlsVersion::Tls13);
    // dpServer sets its own: it keeps it (Kuma would overwrite it with the general one).
    assert_eq!(c.dp_server.tls.min_version, TlsVersion::Tls12);
    // The others set nothing and inherit the general value.
    assert_eq!(c.api_server.https.tls.min_version, TlsVersion::Tls13);
    assert_eq!(c.multizone.global.tls.min_version, TlsVersion::Tls13);
}

#[test]
fn general_max_version_and_ciphers_fill_in_unset_servers() {
    let c = load_env(&[
        ("KUMA_GENERAL_TLS_MAX_VERSION", "TLSv1_2"),
        ("KUMA_GENERAL_TLS_CIPHER_SUITES", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        ("KUMA_DP_SERVER_TLS_CIPHER_SUITES", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    ])
    .unwrap();
    assert_eq!(c.monitoring_assignment_server.tls.max_version, Some(TlsVersion::Tls12));
    assert_eq!(c.diagnostics.tls.cipher_suites, ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
    assert_eq!(c.dp_server.tls.cipher_suites, ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]);
}

#[test]
fn unknown_file_key_is_rejected_by_path() {
    let files = Files::new();
    let path = files.write("kuma-cp.yaml", "apiServer:\n  http:\n    prot: 1\n");
    let err = load(&source(&[]), Some(&path)).unwrap_err();
    assert_eq!(err.to_string(), format!("{}: unknown key apiServer.http.prot", path.display()));
}

#[test]
fn bad_file_value_names_file_and_key() {
    let files = Files::new();
    let path = files.write("kuma-cp.yaml", "apiServer:\n  http:\n    port: abc\n");
    let err = load(&source(&[]), Some(&path)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(r#"{}: apiServer.http.port: invalid port "abc""#, path.display())
    );
    let path = files.write("list.yaml", "dpServer:\n  port: [1, 2]\n");
    let err = load(&source(&[]), Some(&path)).unwrap_err();
    assert!(
        err.to_string().ends_with("dpServer.port: expected a single value, not a list"),
        "{err}"
    );
}

#[test]
fn a_bad_file_value_overridden_by_env_is_not_read() {
    let files = Files::new();
    let path = files.write("kuma-cp.yaml", "apiServer:\n  http:\n    port: abc\n");
    let c = load(&source(&[("KUMA_API_SERVER_HTTP_PORT", "1")]), Some(&path)).unwrap();
    assert_eq!(c.api_server.http.port, 1);
}

#[test]
fn invalid_yaml_names_the_file_and_line() {
    let files = Files::new();
    let path = files.write("kuma-cp.yaml", "mode: zone\napiServer:\n  http: [\n");
    let err = load(&source(&[]), Some(&path)).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(&format!("{}: invalid yaml at line ", path.display())), "{text}");
}

#[test]
fn a_missing_file_is_an_error() {
    let err = load(&source(&[]), Some(missing_file())).unwrap_err();
    assert!(matches!(err, Error::ReadFile { .. }), "{err:?}");
}

#[test]
fn the_password_never_shows() {
    let env = source(&[
        ("KUMA_STORE_TYPE", "postgres"),
        ("KUMA_STORE_POSTGRES_PASSWORD", "hunter2-secret"),
    ]);
    let c = load(&env, None).unwrap();
    assert!(!format!("{c:?}").contains("hunter2-secret"));
    let json = c.to_json();
    assert!(!json.to_string().contains("hunter2-secret"));
    assert_eq!(json["store"]["postgres"]["password"], "*****");
}

#[test]
fn to_json_has_the_kuma_cp_yaml_shape() {
    let json = load_env(&[]).unwrap().to_json();
    assert_eq!(json["mode"], "zone");
    assert_eq!(json["environment"], "universal");
    assert_eq!(json["store"]["type"], "sqlite");
    assert_eq!(json["apiServer"]["http"]["port"], 5681);
    assert_eq!(json["apiServer"]["https"]["tlsMinVersion"], "TLSv1_2");
    assert_eq!(json["apiServer"]["authn"]["tokens"]["bootstrapAdminToken"], true);
    assert_eq!(json["dpServer"]["authn"]["dpProxy"]["type"], "dpToken");
    assert_eq!(json["multizone"]["global"]["kds"]["grpcPort"], 5685);
    assert_eq!(json["multizone"]["global"]["kds"]["nackBackoff"], "5s");
    assert_eq!(json["multizone"]["zone"]["name"], "default");
    assert_eq!(json["monitoringAssignmentServer"]["port"], 5676);
    assert_eq!(json["general"]["resilientComponentMaxBackoff"], "1m0s");
    assert_eq!(json["access"]["static"]["adminResources"]["groups"][0], "mesh-system:admin");
}

#[test]
fn to_json_reloads_to_the_same_config() {
    // The dump uses file keys only, so feeding it back as a file must be accepted unchanged.
    let files = Files::new();
    let env = source(&[("KUMA_STORE_TYPE", "postgres"), ("KUMA_MODE", "global")]);
    let first = load(&env, None).unwrap().to_json();
    let path = files.write("dump.yaml", &serde_yaml_ng::to_string(&first).unwrap());
    let second = load(&source(&[("KUMA_STORE_POSTGRES_PASSWORD", "kuma")]), Some(&path)).unwrap();
    assert_eq!(second.to_json(), first);
}

#[test]
fn an_empty_mads_api_version_list_is_refused() {
    let files = Files::new();
    let path = files.write("kuma-cp.yaml", "monitoringAssignmentServer:\n  apiVersions: []\n");
    let err = load(&source(&[]), Some(&path)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: monitoringAssignmentServer.apiVersions: .ApiVersions must contain at least one \
             version",
            path.display()
        )
    );
}
