use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Dp {
    #[command(flatten)]
    args: DataplaneArgs,
}

#[derive(Debug, Parser)]
struct Zone {
    #[command(flatten)]
    args: ZoneArgs,
}

#[derive(Debug, Parser)]
struct User {
    #[command(flatten)]
    args: UserArgs,
}

fn err_text<T: std::fmt::Debug>(result: anyhow::Result<T>) -> String {
    format!("{:#}", result.unwrap_err())
}

#[test]
fn tags_split_values_by_comma_and_keys_by_equals() {
    let args = ["kuma.io/service=web,web-api".to_owned(), "a=1,b=2".to_owned()];
    let tags = parse_tags(&args).unwrap();
    assert_eq!(tags["kuma.io/service"], ["web", "web-api"]);
    assert_eq!(tags["a"], ["1"]);
    assert_eq!(tags["b"], ["2"]);

    let again = parse_tags(&["a=1".to_owned(), "a=2".to_owned()]).unwrap();
    assert_eq!(again["a"], ["2"], "a later --tag replaces the key");

    let err = err_text(parse_tags(&["web".to_owned()]));
    assert_eq!(
        err,
        "invalid argument \"web\" for \"--tag\" flag: web must be formatted as key=value"
    );
    assert!(parse_tags(&["=v".to_owned()]).is_err());
}

#[test]
fn scopes_default_to_ingress_and_egress_and_refuse_unknown_ones() {
    assert_eq!(scopes(Vec::new()).unwrap(), ["ingress", "egress"]);
    assert_eq!(scopes(vec!["cp".to_owned()]).unwrap(), ["cp"]);
    let err = err_text(scopes(vec!["egress".into(), "mesh".into(), "x".into()]));
    assert_eq!(err, "invalid --scope values: [mesh x] (supported scopes: [ingress egress cp])");
}

#[test]
fn valid_for_is_required_non_zero_and_a_go_duration() {
    assert_eq!(valid_for(Some("24h".into())).unwrap(), "24h");
    assert_eq!(valid_for(Some("1h30m".into())).unwrap(), "1h30m");
    for missing in [None, Some("0".to_owned()), Some("0s".to_owned())] {
        assert_eq!(err_text(valid_for(missing)), "You must set a token validFor value");
    }
    assert_eq!(
        err_text(valid_for(Some("1d".into()))),
        "invalid argument \"1d\" for \"--valid-for\" flag: \
         time: unknown unit \"d\" in duration \"1d\""
    );
}

#[test]
fn kid_and_signing_key_path_come_together() {
    let signing = |path: Option<&str>, kid: Option<&str>| Signing {
        signing_key_path: path.map(PathBuf::from),
        kid: kid.map(str::to_owned),
    };
    assert!(offline_key(signing(None, None)).unwrap().is_none());
    assert!(offline_key(signing(None, Some(""))).unwrap().is_none());
    assert_eq!(
        err_text(offline_key(signing(Some("/k.pem"), None))),
        "--kid is required when --signing-key-path is used"
    );
    assert_eq!(
        err_text(offline_key(signing(None, Some("1")))),
        "--kid cannot be used when --signing-key-path is used"
    );
    let err = err_text(offline_key(signing(Some("/nonexistent/k.pem"), Some("1"))));
    assert!(err.starts_with("could not read a signing key file /nonexistent/k.pem"), "{err}");
}

#[test]
fn dataplane_flags_parse_like_kumas() {
    let dp = Dp::try_parse_from([
        "x",
        "-m",
        "demo",
        "--type",
        "ingress",
        "--tag",
        "kuma.io/service=web,web-api",
        "--tag",
        "version=v1",
        "--valid-for",
        "24h",
    ])
    .unwrap()
    .args;
    assert_eq!(dp.mesh, "demo");
    assert_eq!(dp.name, "");
    assert_eq!(dp.deprecated_type.as_deref(), Some("ingress"));
    assert_eq!(dp.proxy_type, None);
    assert_eq!(dp.tags, ["kuma.io/service=web,web-api", "version=v1"]);

    let defaults = Dp::try_parse_from(["x"]).unwrap().args;
    assert_eq!(defaults.mesh, "default");
    assert!(defaults.valid_for.is_none());

    let both = Dp::try_parse_from(["x", "--type", "ingress", "--proxy-type", "egress"]);
    assert!(both.is_err(), "--type and --proxy-type conflict");
}

#[test]
fn zone_and_user_lists_take_commas_and_repeats() {
    let zone =
        Zone::try_parse_from(["x", "--zone", "z1", "--scope", "ingress,cp", "--scope", "egress"])
            .unwrap()
            .args;
    assert_eq!(zone.scopes, ["ingress", "cp", "egress"]);
    assert!(Zone::try_parse_from(["x"]).is_err(), "--zone is required");

    let user =
        User::try_parse_from(["x", "--name", "u", "--group", "a,b", "--group", "c"]).unwrap().args;
    assert_eq!(user.groups, ["a", "b", "c"]);
    assert!(User::try_parse_from(["x"]).is_err(), "--name is required");
}

#[tokio::test]
async fn offline_request_becomes_the_claims_the_server_would_sign() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let path = dir.path().join("key.pem");
    std::fs::write(&path, key.to_pem()).unwrap();
    let zone = Zone::try_parse_from([
        "x",
        "--zone",
        "z1",
        "--valid-for",
        "1h",
        "--signing-key-path",
        path.to_str().unwrap(),
        "--kid",
        "7",
    ])
    .unwrap()
    .args;
    let mut out = Vec::new();
    // The config path is never read offline: a missing directory proves it.
    super::zone(zone, Path::new("/nonexistent/config"), &mut out).await.unwrap();
    let token = String::from_utf8(out).unwrap();
    assert!(token.ends_with('\n'));

    let kind = kuma_core::tokens::KeyKind::Zone;
    let mut keys = kuma_core::tokens::KeySet::signing_keys(&kind);
    keys.insert(7, key.public_key().clone());
    let validator = kuma_core::tokens::Validator::new(kind, keys, Default::default());
    let now = OffsetDateTime::now_utc();
    let got = validator.validate::<kuma_core::tokens::ZoneClaims>(token.trim_end(), now).unwrap();
    assert_eq!(got.kid, "7");
    assert_eq!(got.claims.zone, "z1");
    assert_eq!(got.claims.scope, ["ingress", "egress"]);
    let expires = got.expires.unwrap();
    let hour = time::Duration::hours(1);
    assert!(expires > now + hour - time::Duration::minutes(1) && expires <= now + hour);
}
