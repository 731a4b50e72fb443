use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn args(argv: &[&str]) -> RunArgs {
    let mut full = vec!["kuma-dp", "run"];
    full.extend_from_slice(argv);
    let Command::Run(args) = Cli::try_parse_from(full).unwrap().command;
    args
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> =
        vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |k| vars.get(k).cloned()
}

const BASE: &[&str] =
    &["--cp-address", "https://cp.example:5678", "--ca-cert-file", "/ca.pem", "--name", "web"];

#[test]
fn flags_resolve_with_defaults() {
    let mut argv = BASE.to_vec();
    argv.extend_from_slice(&["--dataplane-token-file", "/tok"]);
    let cfg = args(&argv).resolve(env(&[])).unwrap();
    assert_eq!(cfg.grpc_address, "grpcs://cp.example:5678");
    assert_eq!(cfg.host, "cp.example");
    assert_eq!(cfg.ca, CaSource::File("/ca.pem".into()));
    assert_eq!(cfg.token, TokenSource::File("/tok".into()));
    assert_eq!((cfg.mesh.as_str(), cfg.name.as_str()), ("default", "web"));
    assert_eq!(cfg.resource_json, "");
    assert_eq!(cfg.proxy_type, ProxyType::Dataplane);
    assert_eq!(cfg.readiness_addr.to_string(), "127.0.0.1:9902");
    assert_eq!(cfg.port, 5678);
    assert_eq!(cfg.work_dir, None);
    assert!(!cfg.dns_enabled);
    let envoy = &cfg.envoy;
    assert_eq!(envoy.binary, PathBuf::from("envoy"));
    assert_eq!((envoy.concurrency, envoy.drain_time), (0, Duration::from_secs(30)));
    assert_eq!((envoy.log_level.as_str(), envoy.component_log_level.as_deref()), ("info", None));
    assert_eq!(envoy.ads, AdsVariant::Delta);
}

#[test]
fn envoy_flags_and_variables_resolve() {
    let mut argv = BASE.to_vec();
    argv.extend_from_slice(&[
        "--dataplane-token-file",
        "/tok",
        "--binary-path",
        "/opt/envoy",
        "--concurrency",
        "2",
        "--drain-time",
        "1m30s",
        "--envoy-log-level",
        "debug",
        "--envoy-component-log-level",
        "upstream:debug,connection:trace",
        "--dns-enabled=false",
        "--work-dir",
        "/w",
    ]);
    let vars = [
        ("KUMA_READINESS_PORT", "0"),
        ("KUMA_DATAPLANE_RUNTIME_ENVOY_XDS_TRANSPORT_PROTOCOL_VARIANT", "GRPC"),
        ("PATH", "/a:/b"),
    ];
    let cfg = args(&argv).resolve(env(&vars)).unwrap();
    assert_eq!(cfg.readiness_addr.port(), 0);
    assert_eq!(cfg.work_dir, Some(PathBuf::from("/w")));
    let envoy = &cfg.envoy;
    assert_eq!(envoy.binary, PathBuf::from("/opt/envoy"));
    assert_eq!((envoy.concurrency, envoy.drain_time), (2, Duration::from_secs(90)));
    assert_eq!(envoy.log_level, "debug");
    assert_eq!(envoy.component_log_level.as_deref(), Some("upstream:debug,connection:trace"));
    assert_eq!(envoy.ads, AdsVariant::StateOfTheWorld);
    // kuma-dp's own directory first, then PATH in order.
    assert!(envoy.search_dirs.ends_with(&[PathBuf::from("/a"), PathBuf::from("/b")]));
    assert_eq!(envoy.search_dirs.len(), 3);
}

#[test]
fn bad_envoy_settings_name_their_flag_or_variable() {
    let mut argv = BASE.to_vec();
    argv.extend_from_slice(&["--dataplane-token-file", "/tok"]);
    let err = args(&argv).resolve(env(&[("KUMA_READINESS_PORT", "99999")])).unwrap_err();
    assert_eq!(err.to_string(), "KUMA_READINESS_PORT: \"99999\" is not a port number");
    let variant = "KUMA_DATAPLANE_RUNTIME_ENVOY_XDS_TRANSPORT_PROTOCOL_VARIANT";
    let err = args(&argv).resolve(env(&[(variant, "REST")])).unwrap_err();
    assert_eq!(err.to_string(), format!("{variant}: \"REST\" is not GRPC or DELTA_GRPC"));
    for (flag, value) in [
        ("--drain-time", "soon"),
        ("--drain-time", "1.5s"),
        ("--drain-time", ""),
        ("--envoy-log-level", "loud"),
        ("--envoy-component-log-level", "upstream"),
        ("--envoy-component-log-level", "upstream:loud"),
        ("--concurrency", "-1"),
        ("--dns-enabled", "maybe"),
    ] {
        let arg = format!("{flag}={value}");
        let err = Cli::try_parse_from(["kuma-dp", "run", &arg]).unwrap_err().to_string();
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
    // A Go bool flag: alone it means true.
    for (argv, enabled) in [(&["--dns-enabled"][..], true), (&["--dns-enabled=false"], false)] {
        let mut full = BASE.to_vec();
        full.extend_from_slice(&["--dataplane-token-file", "/tok"]);
        full.extend_from_slice(argv);
        assert_eq!(args(&full).resolve(env(&[])).unwrap().dns_enabled, enabled, "{argv:?}");
    }
    assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
}

#[test]
fn the_ca_and_token_can_come_from_the_environment() {
    let argv = ["--cp-address", "https://[::1]:5678", "--name", "web"];
    let cfg = args(&argv)
        .resolve(env(&[
            ("KUMA_CONTROL_PLANE_CA_CERT", "PEM"),
            ("KUMA_DATAPLANE_RUNTIME_TOKEN", "t"),
        ]))
        .unwrap();
    assert_eq!(cfg.ca, CaSource::Pem("PEM".into()));
    assert_eq!(cfg.token, TokenSource::Inline("t".into()));
    assert_eq!(cfg.host, "::1");
    assert_eq!(cfg.grpc_address, "grpcs://[::1]:5678");
    // The file flag wins over the inline variable.
    let mut argv = BASE.to_vec();
    argv.extend_from_slice(&["--dataplane-token-file", "/tok"]);
    let cfg = args(&argv).resolve(env(&[("KUMA_DATAPLANE_RUNTIME_TOKEN", "t")])).unwrap();
    assert_eq!(cfg.token, TokenSource::File("/tok".into()));
}

#[test]
fn a_missing_or_empty_token_is_kumas_error() {
    let err = args(BASE).resolve(env(&[])).unwrap_err();
    assert!(matches!(err, Error::NoToken));
    assert!(err.to_string().starts_with("Dataplane Token is required."));
    let err = args(BASE).resolve(env(&[("KUMA_DATAPLANE_RUNTIME_TOKEN", " \n")])).unwrap_err();
    assert!(matches!(err, Error::NoToken));
    let argv = ["--cp-address", "https://h:1", "--name", "web"];
    let err = args(&argv).resolve(env(&[("KUMA_DATAPLANE_RUNTIME_TOKEN", "t")])).unwrap_err();
    assert!(matches!(err, Error::NoCa));
}

#[test]
fn a_token_file_is_read_each_time_and_trimmed() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let source = TokenSource::File(file.path().to_owned());
    assert!(matches!(source.read(), Err(Error::NoToken)));
    writeln!(file, "abc").unwrap();
    assert_eq!(source.read().unwrap(), "abc");
    std::fs::write(file.path(), "def").unwrap();
    assert_eq!(source.read().unwrap(), "def");
    let missing = TokenSource::File("/nonexistent/token".into());
    assert!(matches!(missing.read(), Err(Error::ReadToken { .. })));
}

#[test]
fn the_resource_gives_mesh_and_name_and_becomes_json() {
    let mut argv = BASE.to_vec();
    let yaml = "type: Dataplane\nmesh: demo\nname: backend\nnetworking:\n  address: 10.0.0.1\n";
    argv.extend_from_slice(&["--dataplane", yaml, "--mesh", "other"]);
    let cfg = args(&argv).resolve(env(&[("KUMA_DATAPLANE_RUNTIME_TOKEN", "t")])).unwrap();
    assert_eq!((cfg.mesh.as_str(), cfg.name.as_str()), ("demo", "backend"));
    let json: serde_json::Value = serde_json::from_str(&cfg.resource_json).unwrap();
    assert_eq!(json["networking"]["address"], "10.0.0.1");
    let mut argv = BASE.to_vec();
    argv.push("--dataplane=- a list");
    let err = args(&argv).resolve(env(&[("KUMA_DATAPLANE_RUNTIME_TOKEN", "t")])).unwrap_err();
    assert!(matches!(err, Error::Resource(_)));
}

#[test]
fn the_address_must_be_https_host_port() {
    for bad in ["http://h:1", "https://h", "https://h:x", "https://h:1/path", "https://:1"] {
        assert!(matches!(grpc_address(bad), Err(Error::Address(_))), "{bad}");
    }
    assert_eq!(grpc_address("https://h:1/").unwrap().0, "grpcs://h:1");
}

#[test]
fn the_proxy_type_and_name_are_checked() {
    let mut argv = BASE.to_vec();
    argv.extend_from_slice(&["--proxy-type", "ingress"]);
    assert_eq!(args(&argv).proxy_type, ProxyType::Ingress);
    let ingress = args(&argv).resolve(env(&[("KUMA_DATAPLANE_RUNTIME_TOKEN", "t")])).unwrap();
    assert_eq!(ingress.mesh, "", "a zone ingress belongs to no mesh");
    assert!(Cli::try_parse_from(["kuma-dp", "run", "--proxy-type", "egress"]).is_err());
    let argv = ["--cp-address", "https://h:1", "--ca-cert-file", "/c"];
    let err = args(&argv).resolve(env(&[("KUMA_DATAPLANE_RUNTIME_TOKEN", "t")])).unwrap_err();
    assert!(matches!(err, Error::NoName));
}
