//! Each rejection, with its exact message.

use super::*;

#[test]
fn bad_scalars_name_the_variable() {
    let cases = [
        ("KUMA_API_SERVER_HTTP_PORT", "abc", r#"invalid port "abc""#),
        ("KUMA_DP_SERVER_PORT", "70000", r#"invalid port "70000""#),
        ("KUMA_API_SERVER_READ_TIMEOUT", "10", r#"invalid duration "10""#),
        ("KUMA_API_SERVER_READ_ONLY", "yes", r#"invalid boolean "yes""#),
        ("KUMA_API_SERVER_HTTP_INTERFACE", "localhost", r#"invalid IP address "localhost""#),
        ("KUMA_MULTIZONE_GLOBAL_KDS_ALLOWED_CIDRS", "10.0.0.0/8,nope", r#"invalid CIDR "nope""#),
        ("KUMA_MULTIZONE_GLOBAL_KDS_MAX_MSG_SIZE", "-1", r#"invalid number "-1""#),
        (
            "KUMA_API_SERVER_AUTHN_TYPE",
            "ldap",
            r#"invalid value "ldap", expected one of: tokens, adminClientCerts"#,
        ),
        (
            "KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE",
            "serviceAccountToken",
            r#"invalid value "serviceAccountToken", expected one of: dpToken, none"#,
        ),
        ("KUMA_ACCESS_TYPE", "rbac", r#"invalid value "rbac", expected one of: static"#),
        (
            "KUMA_MONITORING_ASSIGNMENT_SERVER_API_VERSIONS",
            "v1,v2",
            ".ApiVersions contains invalid version v2",
        ),
        ("KUMA_MONITORING_ASSIGNMENT_SERVER_DEFAULT_FETCH_TIMEOUT", "5", r#"invalid duration "5""#),
    ];
    for (name, value, reason) in cases {
        assert_eq!(env_error(&[(name, value)]), format!("{name}: {reason}"));
    }
}

#[test]
fn a_rate_limit_without_burst_names_both_variables() {
    assert_eq!(
        env_error(&[("KUMA_DP_SERVER_RATE_LIMIT_BURST", "0")]),
        "KUMA_DP_SERVER_RATE_LIMIT_BURST: must be at least 1 while \
         KUMA_DP_SERVER_RATE_LIMIT_PER_SECOND is above 0 (set that to 0 to turn the rate limit \
         off)"
    );
    let off = load_env(&[
        ("KUMA_DP_SERVER_RATE_LIMIT_BURST", "0"),
        ("KUMA_DP_SERVER_RATE_LIMIT_PER_SECOND", "0"),
    ])
    .unwrap();
    assert_eq!(off.dp_server.rate_limit.per_second, 0);
    assert_eq!(
        env_error(&[("KUMA_API_SERVER_RATE_LIMIT_TOKENS_PER_SECOND", "-5")]),
        r#"KUMA_API_SERVER_RATE_LIMIT_TOKENS_PER_SECOND: invalid number "-5""#
    );
}

#[test]
fn unknown_mode_gets_kumas_message() {
    assert_eq!(
        env_error(&[("KUMA_MODE", "remote")]),
        "KUMA_MODE: invalid mode. Available modes: standalone, zone, global"
    );
    assert_eq!(load_env(&[("KUMA_MODE", "standalone")]).unwrap().mode, Mode::Zone);
}

#[test]
fn kubernetes_is_rejected_clearly() {
    let msg = "kubernetes is not supported: this control plane runs on universal only";
    assert_eq!(
        env_error(&[("KUMA_ENVIRONMENT", "kubernetes")]),
        format!("KUMA_ENVIRONMENT: {msg}")
    );
    assert_eq!(env_error(&[("KUMA_STORE_TYPE", "kubernetes")]), format!("KUMA_STORE_TYPE: {msg}"));
}

#[test]
fn work_dir_needs_home_when_unset() {
    let err = load(&HashMap::<&str, &str>::new(), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "KUMA_GENERAL_WORK_DIR: not set, and HOME is not set to default it to $HOME/.kuma"
    );
}

#[test]
fn cert_and_key_come_together() {
    let files = Files::new();
    let cert = files.path("cert.pem");
    assert_eq!(
        env_error(&[("KUMA_GENERAL_TLS_CERT_FILE", &cert)]),
        "KUMA_GENERAL_TLS_KEY_FILE: .TlsKeyFile cannot be empty if TlsCertFile has been set"
    );
    assert_eq!(
        env_error(&[("KUMA_MULTIZONE_GLOBAL_KDS_TLS_KEY_FILE", &cert)]),
        "KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE: .TlsCertFile cannot be empty if TlsKeyFile has been set"
    );
}

#[test]
fn missing_files_are_rejected() {
    let missing = missing_file().to_str().unwrap();
    let files = Files::new();
    let key = files.path("key.pem");
    assert_eq!(
        env_error(&[
            ("KUMA_DP_SERVER_TLS_CERT_FILE", missing),
            ("KUMA_DP_SERVER_TLS_KEY_FILE", &key)
        ]),
        format!("KUMA_DP_SERVER_TLS_CERT_FILE: could not read certificate {missing}")
    );
    let err = load_env(&[("KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE", missing)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE: could not read certificate {missing}")
    );
    assert!(std::error::Error::source(&err).is_some(), "the io error is the source");
}

#[test]
fn tls_versions_and_ciphers_are_checked() {
    assert_eq!(
        env_error(&[("KUMA_DP_SERVER_TLS_MIN_VERSION", "TLSv1_0")]),
        "KUMA_DP_SERVER_TLS_MIN_VERSION: unsupported tls version: TLSv1_0 supported versions:[TLSv1_2 TLSv1_3]"
    );
    let err = env_error(&[("KUMA_GENERAL_TLS_CIPHER_SUITES", "TLS_RSA_WITH_AES_128_CBC_SHA")]);
    assert!(
        err.starts_with(
            "KUMA_GENERAL_TLS_CIPHER_SUITES: unsupported tls cipher: TLS_RSA_WITH_AES_128_CBC_SHA"
        ),
        "{err}"
    );
    assert_eq!(
        env_error(&[
            ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_MIN_VERSION", "TLSv1_3"),
            ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_MAX_VERSION", "TLSv1_2")
        ]),
        "KUMA_MULTIZONE_GLOBAL_KDS_TLS_MAX_VERSION: tls min version TLSv1_3 is above max version TLSv1_2"
    );
}

#[test]
fn postgres_tls_rules_use_kumas_messages() {
    let files = Files::new();
    let (cert, ca) = (files.path("cert.pem"), files.path("ca.pem"));
    let pg = ("KUMA_STORE_TYPE", "postgres");
    assert_eq!(
        env_error(&[pg, ("KUMA_STORE_POSTGRES_TLS_MODE", "require")]),
        "KUMA_STORE_POSTGRES_TLS_MODE: TLS validation failed: invalid mode: require"
    );
    for mode in ["verifyCa", "verifyFull"] {
        assert_eq!(
            env_error(&[pg, ("KUMA_STORE_POSTGRES_TLS_MODE", mode)]),
            "KUMA_STORE_POSTGRES_TLS_CA_PATH: TLS validation failed: CAPath cannot be empty"
        );
    }
    assert_eq!(
        env_error(&[pg, ("KUMA_STORE_POSTGRES_TLS_CERT_PATH", &cert)]),
        "KUMA_STORE_POSTGRES_TLS_KEY_PATH: TLS validation failed: KeyPath cannot be empty when CertPath is provided"
    );
    assert_eq!(
        env_error(&[pg, ("KUMA_STORE_POSTGRES_TLS_KEY_PATH", &cert)]),
        "KUMA_STORE_POSTGRES_TLS_CERT_PATH: TLS validation failed: CertPath cannot be empty when KeyPath is provided"
    );
    // Kuma checks postgres settings only when postgres is the store.
    let ok =
        load_env(&[("KUMA_STORE_TYPE", "memory"), ("KUMA_STORE_POSTGRES_TLS_MODE", "verifyCa")]);
    assert!(ok.is_ok());
    let ok = load_env(&[
        pg,
        ("KUMA_STORE_POSTGRES_TLS_MODE", "verifyCa"),
        ("KUMA_STORE_POSTGRES_TLS_CA_PATH", &ca),
    ]);
    assert!(ok.is_ok());
}

#[test]
fn zone_name_follows_kumas_rules() {
    assert_eq!(ZoneName::parse(""), Err(ZoneNameProblem::Empty));
    assert_eq!(ZoneNameProblem::Empty.to_string(), "Name is mandatory");
    assert_eq!(
        env_error(&[("KUMA_MULTIZONE_ZONE_NAME", "west zone")]),
        "KUMA_MULTIZONE_ZONE_NAME: Zone name west zone has to be a valid DNS name"
    );
    assert_eq!(
        env_error(&[("KUMA_MULTIZONE_ZONE_NAME", "10.0.0.1")]),
        "KUMA_MULTIZONE_ZONE_NAME: Zone name 10.0.0.1 has to be a valid DNS name"
    );
    let long = "a".repeat(30) + "." + &"b".repeat(33);
    assert_eq!(
        env_error(&[("KUMA_MULTIZONE_ZONE_NAME", &long)]),
        "KUMA_MULTIZONE_ZONE_NAME: Zone name cannot be longer than 63 characters"
    );
    for ok in ["west", "us-east-1", "zone_1.example", "a.b."] {
        assert!(ZoneName::parse(ok).is_ok(), "{ok}");
    }
}

#[test]
fn global_address_needs_a_grpc_scheme() {
    assert_eq!(
        env_error(&[("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", "https://global:5685")]),
        r#"KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS: unsupported scheme "https" in zone GlobalAddress. Use one of [grpc grpcs]"#
    );
    assert_eq!(
        env_error(&[("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", "10.0.0.1:5685")]),
        r#"KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS: unsupported scheme "" in zone GlobalAddress. Use one of [grpc grpcs]"#
    );
    let c = load_env(&[("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", "grpc://g:1/x")]).unwrap();
    let address = c.multizone.zone.global_address.unwrap();
    assert_eq!((address.scheme(), address.authority()), (GlobalScheme::Grpc, "g:1"));
}

#[test]
fn a_global_is_never_a_federated_zone() {
    let c = load_env(&[
        ("KUMA_MODE", "global"),
        ("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", "grpcs://g:5685"),
    ]);
    assert!(!c.unwrap().is_federated_zone());
}

#[test]
fn zone_health_check_needs_both_values() {
    let msg =
        "invalid zoneHealthCheck config: timeout and pollInterval must both be either set or unset";
    assert_eq!(
        env_error(&[("KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_POLL_INTERVAL", "5s")]),
        format!("KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_TIMEOUT: {msg}")
    );
    assert_eq!(
        env_error(&[("KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_TIMEOUT", "5s")]),
        format!("KUMA_MULTIZONE_GLOBAL_KDS_ZONE_HEALTH_CHECK_POLL_INTERVAL: {msg}")
    );
}
