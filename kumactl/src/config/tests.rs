use super::*;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn missing_file_gives_kumas_local_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load(&dir.path().join("config")).unwrap();
    let current = config.current().unwrap();
    assert_eq!(current.name, "local");
    assert_eq!(current.coordinates.api_server.url, "http://localhost:5681");
}

#[test]
fn file_uses_kumas_layout_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/config");
    let mut config = Config::default();
    let cp = ControlPlane::new("prod", "https://cp:5682", Some("/ca.pem".into()));
    config.add(cp, false).unwrap();
    config.save(&path).unwrap();

    let text = fs::read_to_string(&path).unwrap();
    let want = "\
contexts:
- name: local
  controlPlane: local
- name: prod
  controlPlane: prod
controlPlanes:
- name: local
  coordinates:
    apiServer:
      url: http://localhost:5681
- name: prod
  coordinates:
    apiServer:
      url: https://cp:5682
      caCertFile: /ca.pem
currentContext: prod
";
    assert_eq!(text, want);
    assert_eq!(Config::load(&path).unwrap(), config);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
}

#[test]
fn adding_an_existing_name_needs_overwrite() {
    let mut config = Config::default();
    let other = ControlPlane::new("local", "http://other:5681", None);
    let err = config.add(other.clone(), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Control Plane with name \"local\" already exists. Use --overwrite to replace an existing one."
    );
    config.add(other, true).unwrap();
    assert_eq!(config.control_planes.len(), 1);
    assert_eq!(config.contexts.len(), 1);
    assert_eq!(config.current().unwrap().coordinates.api_server.url, "http://other:5681");
}

#[test]
fn switch_and_remove_need_a_known_name() {
    let mut config = Config::default();
    config.add(ControlPlane::new("b", "http://b", None), false).unwrap();
    config.switch("local").unwrap();
    assert_eq!(config.current().unwrap().name, "local");
    let err = config.switch("nope").unwrap_err();
    assert_eq!(err.to_string(), "there is no Control Plane with name \"nope\"");
    assert!(matches!(config.remove("nope"), Err(Error::NotFound(_))));

    config.remove("local").unwrap();
    assert!(matches!(config.current(), Err(Error::NoCurrent)));
    assert_eq!(config.contexts.len(), 1);
    config.switch("b").unwrap();
    assert_eq!(config.current().unwrap().name, "b");
}

#[test]
fn malformed_file_names_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    fs::write(&path, "contexts: [").unwrap();
    let err = Config::load(&path).unwrap_err();
    assert_eq!(err.to_string(), format!("parsing {}", path.display()));
}

#[test]
fn auth_settings_use_kumas_names_and_debug_hides_the_token() {
    let mut cp = ControlPlane::new("prod", "https://cp:5682", None);
    let api = &mut cp.coordinates.api_server;
    api.client_cert_file = Some("/c.pem".into());
    api.client_key_file = Some("/k.pem".into());
    api.auth_type = Some(AUTH_TYPE_TOKENS.to_owned());
    api.auth_conf.insert(AUTH_CONF_TOKEN.to_owned(), "secret-token".to_owned());
    let text = serde_yaml_ng::to_string(&cp).unwrap();
    let want = "\
name: prod
coordinates:
  apiServer:
    url: https://cp:5682
    clientCertFile: /c.pem
    clientKeyFile: /k.pem
    authType: tokens
    authConf:
      token: secret-token
";
    assert_eq!(text, want);
    let back: ControlPlane = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(back, cp);
    let debug = format!("{cp:?}");
    assert!(!debug.contains("secret-token"), "{debug}");
    assert!(debug.contains("auth_conf_keys: [\"token\"]"), "{debug}");
}
