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
