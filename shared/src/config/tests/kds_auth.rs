//! KDS authentication settings: the global's auth type and client CA, the zone's CP token and
//! client certificate, their cross-field rules and how the dump shows them.

use secrecy::ExposeSecret;

use super::*;

const CLIENT_CA: &str = "KUMA_MULTIZONE_GLOBAL_KDS_TLS_CLIENT_CA_FILE";
const TOKEN_PATH: &str = "KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH";
const TOKEN_INLINE: &str = "KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_INLINE";
const ZONE_CERT: &str = "KUMA_MULTIZONE_ZONE_KDS_TLS_CERT_FILE";
const ZONE_KEY: &str = "KUMA_MULTIZONE_ZONE_KDS_TLS_KEY_FILE";
const ROOT_CA: &str = "KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE";
const SKIP_VERIFY: &str = "KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY";

#[test]
fn unknown_auth_type_names_the_variable_and_the_allowed_values() {
    assert_eq!(
        env_error(&[("KUMA_MULTIZONE_GLOBAL_KDS_AUTH_TYPE", "mtls")]),
        r#"KUMA_MULTIZONE_GLOBAL_KDS_AUTH_TYPE: invalid value "mtls", expected one of: zoneToken, none"#
    );
    let c = load_env(&[("KUMA_MULTIZONE_GLOBAL_KDS_AUTH_TYPE", "zoneToken")]).unwrap();
    assert_eq!(c.multizone.global.auth, KdsAuth::ZoneToken);
}

#[test]
fn client_ca_needs_tls() {
    let files = Files::new();
    let ca = files.path("ca.pem");
    assert_eq!(
        env_error(&[(CLIENT_CA, &ca), ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_ENABLED", "false")]),
        format!(
            "{CLIENT_CA}: a client certificate needs TLS, but \
             KUMA_MULTIZONE_GLOBAL_KDS_TLS_ENABLED is false"
        )
    );
    let c =
        load_env(&[(CLIENT_CA, &ca), ("KUMA_MULTIZONE_GLOBAL_KDS_TLS_ENABLED", "true")]).unwrap();
    assert!(c.multizone.global.client_ca_file.is_some());
}

#[test]
fn unreadable_kds_auth_files_are_rejected() {
    let missing = missing_file().to_str().unwrap();
    let files = Files::new();
    let key = files.path("key.pem");
    assert_eq!(
        env_error(&[(CLIENT_CA, missing)]),
        format!("{CLIENT_CA}: could not read certificate {missing}")
    );
    assert_eq!(
        env_error(&[(TOKEN_PATH, missing)]),
        format!("{TOKEN_PATH}: could not read token {missing}")
    );
    assert_eq!(
        env_error(&[(ZONE_CERT, missing), (ZONE_KEY, &key)]),
        format!("{ZONE_CERT}: could not read certificate {missing}")
    );
}

#[test]
fn the_token_file_is_only_checked_to_exist() {
    // The client re-reads it on every connect and rejects an empty one there.
    let files = Files::new();
    let path = files.write("cp-token", "");
    let c = load_env(&[(TOKEN_PATH, path.to_str().unwrap())]).unwrap();
    assert!(matches!(&c.multizone.zone.cp_token, Some(CpToken::Path(p)) if *p == path));
}

#[test]
fn token_path_and_inline_are_exclusive() {
    let files = Files::new();
    let path = files.path("ca.pem");
    let text = env_error(&[(TOKEN_PATH, &path), (TOKEN_INLINE, "secret-token-value")]);
    assert_eq!(
        text,
        format!("{TOKEN_INLINE}: cannot be set together with {TOKEN_PATH}; set only one")
    );
}

#[test]
fn zone_client_cert_and_key_come_together() {
    let files = Files::new();
    assert_eq!(
        env_error(&[(ZONE_CERT, &files.path("cert.pem"))]),
        format!("{ZONE_KEY}: .TlsKeyFile cannot be empty if TlsCertFile has been set")
    );
    assert_eq!(
        env_error(&[(ZONE_KEY, &files.path("key.pem"))]),
        format!("{ZONE_CERT}: .TlsCertFile cannot be empty if TlsKeyFile has been set")
    );
}

#[test]
fn root_ca_and_skip_verify_contradict() {
    let files = Files::new();
    let ca = files.path("ca.pem");
    assert_eq!(
        env_error(&[(ROOT_CA, &ca), (SKIP_VERIFY, "true")]),
        format!(
            "{SKIP_VERIFY}: true contradicts {ROOT_CA}: skipping verification leaves the root CA \
             unused"
        )
    );
    let c = load_env(&[(ROOT_CA, &ca), (SKIP_VERIFY, "false")]).unwrap();
    assert!(c.multizone.zone.root_ca_file.is_some());
}

#[test]
fn grpcs_without_root_ca_or_skip_verify_uses_the_system_roots() {
    let c = load_env(&[("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS", "grpcs://global:5685")]).unwrap();
    let zone = &c.multizone.zone;
    assert_eq!(zone.root_ca_file, None);
    assert!(!zone.tls_skip_verify);
}

#[test]
fn the_inline_token_never_shows() {
    let c = load_env(&[(TOKEN_INLINE, "hunter2-token")]).unwrap();
    let Some(CpToken::Inline(token)) = &c.multizone.zone.cp_token else {
        panic!("expected an inline token");
    };
    assert_eq!(token.expose_secret(), "hunter2-token");
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2-token"));
    assert!(debug.contains("Inline(*****)"), "{debug}");
    let json = c.to_json();
    assert!(!json.to_string().contains("hunter2-token"));
    let auth = &json["multizone"]["zone"]["kds"]["auth"];
    assert_eq!(auth["cpTokenInline"], "*****");
    assert_eq!(auth["cpTokenPath"], "");
}

const FILE: &str = r#"
multizone:
  global:
    kds:
      authType: none
      tlsClientCaFile: {ca}
  zone:
    globalAddress: grpcs://global:5685
    kds:
      rootCaFile: {ca}
      tlsCertFile: {cert}
      tlsKeyFile: {key}
      auth:
        cpTokenPath: {ca}
"#;

#[test]
fn file_settings_load_show_in_kuma_shape_and_reload() {
    let files = Files::new();
    let yaml = FILE
        .replace("{ca}", &files.path("ca.pem"))
        .replace("{cert}", &files.path("cert.pem"))
        .replace("{key}", &files.path("key.pem"));
    let path = files.write("kuma-cp.yaml", &yaml);
    let c = load(&source(&[]), Some(&path)).unwrap();
    assert_eq!(c.multizone.global.auth, KdsAuth::None);
    let ca = PathBuf::from(files.path("ca.pem"));
    assert_eq!(c.multizone.global.client_ca_file.as_ref(), Some(&ca));
    let zone = &c.multizone.zone;
    assert!(matches!(&zone.cp_token, Some(CpToken::Path(p)) if *p == ca));
    let tls = zone.client_tls.as_ref().unwrap();
    assert!(tls.cert.ends_with("cert.pem") && tls.key.ends_with("key.pem"));

    let first = c.to_json();
    let kds = &first["multizone"]["global"]["kds"];
    assert_eq!(kds["authType"], "none");
    assert_eq!(kds["tlsClientCaFile"], files.path("ca.pem"));
    let kds = &first["multizone"]["zone"]["kds"];
    assert_eq!(kds["tlsCertFile"], files.path("cert.pem"));
    assert_eq!(kds["tlsKeyFile"], files.path("key.pem"));
    assert_eq!(kds["auth"]["cpTokenPath"], files.path("ca.pem"));
    assert_eq!(kds["auth"]["cpTokenInline"], "");

    let dump = files.write("dump.yaml", &serde_yaml_ng::to_string(&first).unwrap());
    let second = load(&source(&[]), Some(&dump)).unwrap();
    assert_eq!(second.to_json(), first);
}

#[test]
fn file_conflicts_name_the_file_keys() {
    let files = Files::new();
    let yaml = format!(
        "multizone:\n  global:\n    kds:\n      tlsEnabled: false\n      tlsClientCaFile: {}\n",
        files.path("ca.pem")
    );
    let path = files.write("kuma-cp.yaml", &yaml);
    let err = load(&source(&[]), Some(&path)).unwrap_err();
    let file = path.display();
    assert_eq!(
        err.to_string(),
        format!(
            "{file}: multizone.global.kds.tlsClientCaFile: a client certificate needs TLS, but \
             {file}: multizone.global.kds.tlsEnabled is false"
        )
    );
}
