//! Token settings: static public keys from `key` or `keyFile`, and their rules.

use super::*;

const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY-----\n";

/// Loads a file holding `yaml`, where `{public}` names a file holding [`PEM`].
fn load_yaml(files: &Files, yaml: &str) -> Result<CpConfig, Error> {
    files.write("public.pem", PEM);
    let yaml = yaml.replace("{public}", &files.path("public.pem"));
    let path = files.write("kuma-cp.yaml", &yaml);
    load(&source(&[]), Some(&path))
}

/// The message of the error loading `yaml`, with the file's path replaced by `FILE`.
fn yaml_error(yaml: &str) -> String {
    let files = Files::new();
    let err = load_yaml(&files, yaml).unwrap_err();
    let path = files.path("kuma-cp.yaml");
    err.to_string().replace(&path, "FILE")
}

fn user_keys(entries: &str) -> String {
    format!("apiServer:\n  authn:\n    tokens:\n      validator:\n        publicKeys:\n{entries}")
}

#[test]
fn public_keys_load_from_key_and_key_file() {
    let files = Files::new();
    let yaml = r#"
apiServer:
  authn:
    tokens:
      validator:
        useSecrets: false
        publicKeys:
          - kid: "1"
            key: |
              -----BEGIN PUBLIC KEY-----
              MIIBIjANBg
              -----END PUBLIC KEY-----
          - kid: 2
            keyFile: {public}
dpServer:
  authn:
    dpProxy:
      dpToken:
        enableIssuer: false
        validator:
          publicKeys:
            - {kid: a, mesh: default, keyFile: {public}}
            - {kid: b, keyFile: {public}}
    zoneProxy:
      zoneToken:
        validator:
          publicKeys:
            - {kid: z, keyFile: {public}}
"#;
    let c = load_yaml(&files, yaml).unwrap();
    let user = &c.api_server.authn.tokens;
    assert!(!user.use_secrets);
    assert!(user.enable_issuer && user.bootstrap_admin_token);
    let kids: Vec<&str> = user.public_keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["1", "2"], "a numeric kid reads as text");
    assert_eq!(user.public_keys[0].pem, PEM);
    assert_eq!(user.public_keys[1].pem, PEM, "keyFile is read at load time");
    let dp = &c.dp_server.dp_token;
    assert!(!dp.enable_issuer && dp.use_secrets);
    let want = StaticPublicKey { kid: "a".into(), mesh: Some("default".into()), pem: PEM.into() };
    assert_eq!(dp.public_keys[0], want);
    assert_eq!(dp.public_keys[1].mesh, None, "no mesh: every mesh");
    assert_eq!(c.dp_server.zone_token.public_keys[0].kid, "z");
    assert!(c.ignored_keys.is_empty(), "{:?}", c.ignored_keys);
}

#[test]
fn token_settings_show_in_kuma_shape_and_reload() {
    let files = Files::new();
    let yaml = "dpServer:\n  authn:\n    dpProxy:\n      dpToken:\n        validator:\n          \
                publicKeys: [{kid: a, mesh: demo, keyFile: {public}}]\n";
    let c = load_yaml(&files, yaml).unwrap();
    let json = c.to_json();
    let dp = &json["dpServer"]["authn"]["dpProxy"]["dpToken"];
    assert_eq!(dp["enableIssuer"], true);
    assert_eq!(dp["validator"]["useSecrets"], true);
    assert_eq!(dp["validator"]["publicKeys"][0]["mesh"], "demo");
    assert_eq!(dp["validator"]["publicKeys"][0]["key"], PEM);
    let zone = &json["dpServer"]["authn"]["zoneProxy"]["zoneToken"]["validator"];
    assert_eq!(zone["publicKeys"], serde_json::json!([]));
    let user = &json["apiServer"]["authn"]["tokens"];
    assert_eq!(user["validator"]["useSecrets"], true);
    let dump = files.write("dump.yaml", &serde_yaml_ng::to_string(&json).unwrap());
    let again = load(&source(&[]), Some(&dump)).unwrap();
    assert_eq!(again.to_json(), json);
}

#[test]
fn public_key_rules_name_the_entry() {
    let at = "apiServer.authn.tokens.validator.publicKeys";
    let cases = [
        (
            "          - {kid: a, keyFile: {public}}\n          - {key: y}\n",
            format!("FILE: {at}[1].kid: .KID is required"),
        ),
        (
            "          - {kid: a, keyFile: {public}}\n          - {kid: a, keyFile: {public}}\n",
            format!(r#"FILE: {at}[1].kid: duplicate kid "a""#),
        ),
        (
            "          - {kid: a}\n",
            format!("FILE: {at}[0]: either .KeyFile or .Key has to be defined"),
        ),
        (
            "          - {kid: a, key: x, keyFile: {public}}\n",
            format!("FILE: {at}[0]: both .KeyFile or .Key cannot be defined"),
        ),
        (
            "          - {kid: a, key: not-pem}\n",
            format!("FILE: {at}[0].key: not a PEM public key (no -----BEGIN line)"),
        ),
        (
            "          - {kid: a, mesh: default, keyFile: {public}}\n",
            format!("FILE: unknown key {at}[0].mesh"),
        ),
        ("          - {kid: a, keyFiel: {public}}\n", format!("FILE: unknown key {at}[0].keyFiel")),
        ("          - a\n          - b\n", format!("FILE: {at}: expected a list of mappings")),
    ];
    for (entries, want) in cases {
        assert_eq!(yaml_error(&user_keys(entries)), want, "{entries}");
    }
}

#[test]
fn a_key_file_that_cannot_be_read_is_an_error() {
    let yaml =
        user_keys(&format!("          - {{kid: a, keyFile: {}}}\n", missing_file().display()));
    let files = Files::new();
    let err = load_yaml(&files, &yaml).unwrap_err();
    assert!(
        matches!(&err, Error::EntryFile { key, file, .. }
            if key == "apiServer.authn.tokens.validator.publicKeys[0].keyFile"
                && file == missing_file()),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("could not read public key /nonexistent"), "{text}");
}

#[test]
fn a_key_file_that_is_not_pem_is_rejected() {
    let files = Files::new();
    let yaml = user_keys(&format!("          - {{kid: a, keyFile: {}}}\n", files.path("cert.pem")));
    let err = load_yaml(&files, &yaml).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("publicKeys[0].keyFile: not a PEM public key (no -----BEGIN line)"),
        "{err}"
    );
}

#[test]
fn public_keys_are_yaml_only() {
    let c = load_env(&[("KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_PUBLIC_KEYS", "x")]).unwrap();
    assert!(c.api_server.authn.tokens.public_keys.is_empty());
    assert_eq!(c.ignored_env, ["KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_PUBLIC_KEYS"]);
}
