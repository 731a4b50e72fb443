use super::*;

fn dp() -> DataplaneIdentity {
    DataplaneIdentity {
        name: "web-1".into(),
        mesh: "default".into(),
        tags: BTreeMap::from([
            (
                "kuma.io/service".to_owned(),
                BTreeSet::from(["web".to_owned(), "web-api".to_owned()]),
            ),
            ("version".to_owned(), BTreeSet::from(["v1".to_owned()])),
        ]),
        workload: Some("web".into()),
        workload_derives_identity: false,
    }
}

fn tags(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
        .collect()
}

fn denied(claims: &DataplaneClaims, dp: &DataplaneIdentity) -> String {
    authorize_dataplane(claims, dp).unwrap_err().to_string()
}

#[test]
fn empty_claims_allow_any_dataplane_and_type_is_ignored() {
    let claims = DataplaneClaims { proxy_type: "egress".into(), ..Default::default() };
    authorize_dataplane(&claims, &dp()).unwrap();
}

#[test]
fn matching_claims_allow() {
    let claims = DataplaneClaims {
        name: "web-1".into(),
        mesh: "default".into(),
        tags: tags(&[("kuma.io/service", &["web-api", "web", "extra"])]),
        workload: "web".into(),
        ..Default::default()
    };
    authorize_dataplane(&claims, &dp()).unwrap();
}

#[test]
fn dataplane_mismatches_give_kuma_messages() {
    let base = DataplaneClaims::default();
    let name = DataplaneClaims { name: "db-1".into(), ..base.clone() };
    assert_eq!(
        denied(&name, &dp()),
        "proxy name from requestor: web-1 is different than in token: db-1"
    );
    let mesh = DataplaneClaims { mesh: "other".into(), ..base.clone() };
    assert_eq!(
        denied(&mesh, &dp()),
        "proxy mesh from requestor: default is different than in token: other"
    );
    let missing = DataplaneClaims { tags: tags(&[("team", &["a"])]), ..base.clone() };
    assert_eq!(denied(&missing, &dp()), r#"dataplane has no tag "team" required by the token"#);
    let value =
        DataplaneClaims { tags: tags(&[("kuma.io/service", &["web", "other"])]), ..base.clone() };
    assert_eq!(
        denied(&value, &dp()),
        r#"dataplane contains tag "kuma.io/service" with value "web-api" which is not allowed with this token. Allowed values in token are ["other" "web"]"#
    );
    let workload = DataplaneClaims { workload: "db".into(), ..base.clone() };
    assert_eq!(
        denied(&workload, &dp()),
        r#"dataplane workload "web" is not allowed with this token. Allowed workload in token is "db""#
    );
    let unlabelled = DataplaneIdentity { workload: None, ..dp() };
    assert_eq!(
        denied(&workload, &unlabelled),
        "dataplane has no workload label required by the token"
    );
    let derived = DataplaneIdentity { workload_derives_identity: true, ..dp() };
    assert_eq!(
        denied(&base, &derived),
        r#"dataplane with "kuma.io/workload" label "web" derives its identity from the workload, so it requires a workload-bound token"#
    );
}

#[test]
fn zone_proxy_needs_scope_and_own_zone() {
    let claims = ZoneClaims { zone: "east".into(), scope: vec!["ingress".into()] };
    authorize_zone_proxy(&claims, "ingress", "east").unwrap();
    let any_zone = ZoneClaims { zone: String::new(), ..claims.clone() };
    authorize_zone_proxy(&any_zone, "ingress", "west").unwrap();
    assert_eq!(
        authorize_zone_proxy(&claims, "egress", "east").unwrap_err().to_string(),
        "token cannot be used to authenticate zone entity (egress is out of token's scope: [ingress])"
    );
    assert_eq!(
        authorize_zone_proxy(&claims, "ingress", "west").unwrap_err().to_string(),
        "zone from requestor: west is different than in token: east"
    );
}

#[test]
fn zone_cp_needs_cp_scope_and_its_own_zone() {
    let claims = ZoneClaims { zone: "east".into(), scope: vec!["cp".into()] };
    authorize_zone_cp(&claims, "east").unwrap();
    assert_eq!(
        authorize_zone_cp(&claims, "west").unwrap_err(),
        AuthError::Zone { requestor: "west".into(), token: "east".into() }
    );
    let proxy_only =
        ZoneClaims { scope: vec!["ingress".into(), "egress".into()], ..claims.clone() };
    assert_eq!(
        authorize_zone_cp(&proxy_only, "east").unwrap_err().to_string(),
        "token cannot be used to authenticate zone entity (cp is out of token's scope: [ingress egress])"
    );
    let unbound = ZoneClaims { zone: String::new(), ..claims };
    assert_eq!(authorize_zone_cp(&unbound, "east").unwrap_err(), AuthError::ZoneUnbound);
}
