use super::*;

fn violations<T>(result: Result<T, ValidationError>) -> String {
    match result {
        Ok(_) => panic!("request was accepted"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn dataplane_request_reads_kuma_json() {
    let req: DataplaneTokenRequest = serde_json::from_str(
        r#"{"name":"dp-1","mesh":"default","tags":{"kuma.io/service":["web","api"]},
            "type":"dataplane","workload":"w","validFor":"24h0m0s"}"#,
    )
    .unwrap();
    let (claims, valid_for) = req.validate().unwrap();
    assert_eq!(valid_for, Duration::from_secs(24 * 3600));
    assert_eq!(claims.name, "dp-1");
    assert_eq!(claims.tags["kuma.io/service"], ["web", "api"]);
    assert_eq!(claims.proxy_type, "dataplane");
    assert_eq!(claims.workload, "w");
}

#[test]
fn empty_valid_for_means_ten_years_for_dataplane_and_zone_tokens() {
    let dp = DataplaneTokenRequest { mesh: "m".into(), ..Default::default() };
    assert_eq!(dp.validate().unwrap().1, DEFAULT_VALID_FOR);
    assert_eq!(DEFAULT_VALID_FOR, Duration::from_secs(87_600 * 3600));
    let zone: ZoneTokenRequest =
        serde_json::from_str(r#"{"zone":"z","scope":["ingress"]}"#).unwrap();
    assert_eq!(zone.validate().unwrap().1, DEFAULT_VALID_FOR);
}

#[test]
fn bad_requests_give_kuma_messages() {
    let dp = DataplaneTokenRequest {
        proxy_type: "sidecar".into(),
        valid_for: "1x".into(),
        ..Default::default()
    };
    assert_eq!(
        violations(dp.validate()),
        r#"mesh: cannot be empty; validFor: is invalid: time: unknown unit "x" in duration "1x"; type: sidecar is not a valid proxy type"#
    );
    let zone = ZoneTokenRequest::default();
    assert_eq!(violations(zone.validate()), "zone: cannot be empty; scope: cannot be empty");
    let user = UserTokenRequest::default();
    assert_eq!(violations(user.validate()), "name: cannot be empty; validFor: cannot be empty");
    let user =
        UserTokenRequest { name: "u".into(), valid_for: "soon".into(), ..Default::default() };
    assert_eq!(
        violations(user.validate()),
        r#"validFor: is invalid: time: invalid duration "soon""#
    );
}

#[test]
fn user_request_gives_user_claims() {
    let req: UserTokenRequest =
        serde_json::from_str(r#"{"name":"john","groups":["mesh-system:admin"],"validFor":"1h"}"#)
            .unwrap();
    let (claims, valid_for) = req.validate().unwrap();
    assert_eq!(claims.name, "john");
    assert_eq!(claims.groups, ["mesh-system:admin"]);
    assert_eq!(valid_for, Duration::from_secs(3600));
}

#[test]
fn a_zero_validity_is_refused_for_every_kind() {
    let dp =
        DataplaneTokenRequest { mesh: "m".into(), valid_for: "0s".into(), ..Default::default() };
    assert_eq!(violations(dp.validate()), "validFor: must be greater than 0");
    let zone =
        ZoneTokenRequest { zone: "z".into(), scope: vec!["cp".into()], valid_for: "0".into() };
    assert_eq!(violations(zone.validate()), "validFor: must be greater than 0");
    let user =
        UserTokenRequest { name: "u".into(), valid_for: "0h0m".into(), ..Default::default() };
    assert_eq!(violations(user.validate()), "validFor: must be greater than 0");
}

#[test]
fn zone_requests_need_a_zone_name_kds_accepts_and_known_scopes() {
    let request = |zone: &str, scope: &[&str]| ZoneTokenRequest {
        zone: zone.into(),
        scope: scope.iter().map(|s| s.to_string()).collect(),
        valid_for: "1h".into(),
    };
    assert!(request("zone-1", &["cp", "ingress", "egress"]).validate().is_ok());
    assert_eq!(
        violations(request("zone 1", &["cp"]).validate()),
        "zone: Zone name zone 1 has to be a valid DNS name"
    );
    assert_eq!(
        violations(request(&"zone.".repeat(13), &["cp"]).validate()),
        "zone: Zone name cannot be longer than 63 characters"
    );
    assert_eq!(
        violations(request("zone-1", &["cp", "admin"]).validate()),
        r#"scope[1]: unknown scope "admin": supported scopes are ingress, egress, cp"#
    );
}

#[test]
fn names_follow_the_rules_of_what_they_name() {
    let dp = |name: &str, mesh: &str, workload: &str| DataplaneTokenRequest {
        name: name.into(),
        mesh: mesh.into(),
        workload: workload.into(),
        ..Default::default()
    };
    assert!(dp("web-1", "default", "web").validate().is_ok());
    assert_eq!(
        violations(dp(&"a".repeat(254), "m", "").validate()),
        "name: value length must less or equal 253"
    );
    assert!(violations(dp("Web_1", "m", "").validate()).starts_with("name: invalid characters"));
    assert_eq!(
        violations(dp("", &"m".repeat(64), "").validate()),
        "mesh: cannot be longer than 63 characters"
    );
    assert_eq!(
        violations(dp("", "m", &"w".repeat(64)).validate()),
        "workload: cannot be longer than 63 characters"
    );
    let user = UserTokenRequest {
        name: "u".repeat(254),
        groups: vec!["ok".into(), String::new()],
        valid_for: "1h".into(),
    };
    assert_eq!(
        violations(user.validate()),
        "name: cannot be longer than 253 characters; groups[1]: cannot be empty"
    );
}
