//! Token endpoints, bearer authentication, mesh credentials and the audit trail, through the
//! router.

use axum::http::{Method, StatusCode};
use kuma_core::tokens::DataplaneClaims;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::api::Role;
use crate::api::tests::{LOCAL, REMOTE, audit_events, call, call_with, mesh, state, state_with};
use crate::credentials::TokenKind;

/// Issues a token through the router and returns its text.
async fn issue(
    state: &crate::api::ApiState,
    from: &str,
    path: &str,
    body: Value,
) -> (StatusCode, String) {
    use axum::body::{Body, to_bytes};
    use axum::extract::ConnectInfo;
    use axum::http::{Request, header};
    use tower::ServiceExt;
    let peer: std::net::SocketAddr = from.parse().unwrap();
    let mut req = Request::post(path)
        .header(header::HOST, "localhost:5681")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = crate::api::router(state.clone(), axum::Router::new()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn names(state: &crate::api::ApiState, path: &str) -> Vec<String> {
    let r = call(state, LOCAL, Method::GET, path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn creating_a_mesh_creates_its_signing_key_and_builtin_ca() {
    let s = state(Role::Zone);
    let m = json!({"type": "Mesh", "name": "m1", "mtls": {"enabledBackend": "ca-1",
        "backends": [{"name": "ca-1", "type": "builtin"}]}});
    let r = call(&s, LOCAL, Method::PUT, "/meshes/m1", Some(m)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secrets = names(&s, "/meshes/m1/secrets").await;
    assert_eq!(
        secrets,
        ["dataplane-token-signing-key-m1-1", "m1.ca-builtin-cert-ca-1", "m1.ca-builtin-key-ca-1"]
    );
    let events: Vec<String> =
        audit_events(&s).iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert!(events.contains(&"signingKeyCreated".to_owned()), "{events:?}");
    assert!(events.contains(&"caCreated".to_owned()), "{events:?}");
}

#[tokio::test]
async fn admin_issues_a_dataplane_token_that_validates() {
    let s = state(Role::Zone);
    call(&s, LOCAL, Method::PUT, "/meshes/default", Some(mesh("default"))).await;
    let body = json!({"name": "web-1", "mesh": "default", "tags": {"kuma.io/service": ["web"]}, "validFor": "1h"});
    let (status, token) = issue(&s, LOCAL, "/tokens/dataplane", body).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let validator =
        s.credentials().validator(TokenKind::Dataplane { mesh: "default".into() }).await.unwrap();
    let valid = validator.validate::<DataplaneClaims>(&token, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(valid.claims.name, "web-1");
    assert_eq!(valid.claims.tags["kuma.io/service"], ["web"]);
    let issued = audit_events(&s).into_iter().find(|e| e["event"] == "tokenIssued").unwrap();
    assert_eq!(issued["subject"], "web-1");
    assert_eq!(issued["jti"], valid.jti.as_str());
    assert!(!issued.to_string().contains(&token), "the audit log must never hold the token");
}

#[tokio::test]
async fn anonymous_caller_cannot_issue_tokens() {
    let s = state(Role::Zone);
    call(&s, LOCAL, Method::PUT, "/meshes/default", Some(mesh("default"))).await;
    let (status, body) = issue(&s, REMOTE, "/tokens/dataplane", json!({"mesh": "default"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["detail"],
        "user \"mesh-system:anonymous/mesh-system:unauthenticated\" cannot access generate dataplane token"
    );
    assert!(audit_events(&s).iter().any(|e| e["event"] == "accessDenied"));
}

#[tokio::test]
async fn token_requests_are_validated_with_kumas_messages() {
    let s = state(Role::Zone);
    let (status, body) = issue(&s, LOCAL, "/tokens/dataplane", json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["invalid_parameters"][0]["field"], "mesh");
    assert_eq!(body["invalid_parameters"][0]["reason"], "cannot be empty");

    let (status, body) = issue(&s, LOCAL, "/tokens/user", json!({"name": "alice"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["invalid_parameters"][0]["field"], "validFor");

    let (status, _) = issue(&s, LOCAL, "/tokens/dataplane", json!({"mesh": "nope"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a token for a mesh that does not exist");
}

#[tokio::test]
async fn user_token_authenticates_and_revocation_takes_effect_at_once() {
    let s = state_with(Role::Zone, false);
    s.credentials().ensure_control_plane_keys().await.unwrap();
    // With localhost not admin, issue the token straight from the credentials.
    let claims = kuma_core::tokens::UserClaims {
        name: "alice".into(),
        groups: vec!["mesh-system:admin".into()],
    };
    let issued = s
        .credentials()
        .issue(
            &kuma_core::tokens::KeyKind::User,
            &claims,
            std::time::Duration::from_secs(3600),
            "test",
            "alice",
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let bearer = format!("Bearer {}", issued.token);

    let r =
        call_with(&s, REMOTE, Method::GET, "/global-secrets", None, &[("authorization", &bearer)])
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = call(&s, REMOTE, Method::GET, "/global-secrets", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = call_with(
        &s,
        REMOTE,
        Method::GET,
        "/meshes",
        None,
        &[("authorization", "Bearer not.a.token")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["title"], "Unauthenticated");
    assert_eq!(s.metrics().auth_failures("user", "malformed"), 1);

    // Revoke alice's token: write the revocation list as the (token-holding) admin.
    let data = base64_of(&issued.jti);
    let revocations =
        json!({"type": "GlobalSecret", "name": "user-token-revocations", "data": data});
    let r = call_with(
        &s,
        REMOTE,
        Method::PUT,
        "/global-secrets/user-token-revocations",
        Some(revocations.to_string()),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r =
        call_with(&s, REMOTE, Method::GET, "/meshes", None, &[("authorization", &bearer)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a revoked token must stop working at once");
    assert_eq!(s.metrics().auth_failures("user", "revoked"), 1);
    let failure = audit_events(&s).into_iter().rev().find(|e| e["event"] == "authFailed").unwrap();
    assert_eq!(failure["reason"], "revoked");
    assert_eq!(failure["source"], REMOTE);
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn federated_zone_has_no_zone_token_key() {
    let s = state(Role::FederatedZone);
    let (status, body) =
        issue(&s, LOCAL, "/tokens/zone", json!({"zone": "z1", "scope": ["cp"]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["title"], "Signing Key not found");
}

#[tokio::test]
async fn changing_the_ca_while_mtls_is_on_is_refused() {
    let s = state(Role::Zone);
    let with = |enabled: &str| {
        json!({"type": "Mesh", "name": "m", "mtls": {"enabledBackend": enabled, "backends": [
            {"name": "ca-1", "type": "builtin"}, {"name": "ca-2", "type": "builtin"}]}})
    };
    let r = call(&s, LOCAL, Method::PUT, "/meshes/m", Some(with("ca-1"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = call(&s, LOCAL, Method::PUT, "/meshes/m", Some(with("ca-2"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["invalid_parameters"][0]["field"], "mtls.enabledBackend");
    assert_eq!(
        r.body["invalid_parameters"][0]["reason"],
        "Changing CA when mTLS is enabled is forbidden. Disable mTLS first and then change the CA"
    );
}

#[tokio::test]
async fn provided_ca_that_breaks_svid_rules_is_refused_and_a_used_secret_cannot_go() {
    let s = state(Role::Zone);
    call(&s, LOCAL, Method::PUT, "/meshes/m", Some(mesh("m"))).await;
    // A leaf certificate (CA:false) as a "CA".
    let pair = kuma_core::tls::generate_certificate(
        kuma_core::tls::CertKind::Server,
        &["leaf".to_owned()],
        kuma_core::tls::KeyType::Ecdsa,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let leaf_only =
        pair.cert_pem.split_inclusive("-----END CERTIFICATE-----\n").next().unwrap().to_owned();
    use secrecy::ExposeSecret;
    for (name, data) in [("cert", leaf_only.as_str()), ("key", pair.key_pem.expose_secret())] {
        let secret = json!({"type": "Secret", "mesh": "m", "name": name, "data": base64_of(data)});
        let r =
            call(&s, LOCAL, Method::PUT, &format!("/meshes/m/secrets/{name}"), Some(secret)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let provided = json!({"type": "Mesh", "name": "m", "mtls": {"enabledBackend": "ca-1", "backends": [
        {"name": "ca-1", "type": "provided", "conf": {"cert": {"secret": "cert"}, "key": {"secret": "key"}}}]}});
    let r = call(&s, LOCAL, Method::PUT, "/meshes/m", Some(provided.clone())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let reasons = r.body["invalid_parameters"].to_string();
    assert!(reasons.contains("basic constraint 'CA' must be set to 'true'"), "{reasons}");

    // With skipValidation the mesh is stored; its secret is then in use and cannot be deleted.
    let mut skipped = provided;
    skipped["mtls"]["skipValidation"] = json!(true);
    let r = call(&s, LOCAL, Method::PUT, "/meshes/m", Some(skipped)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = call(&s, LOCAL, Method::DELETE, "/meshes/m/secrets/cert", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["invalid_parameters"][0]["reason"],
        "The secret \"cert\" that you are trying to remove is currently in use in Mesh \"m\" in mTLS \
         backend \"ca-1\". Please remove the reference from the \"ca-1\" backend before removing the secret."
    );
}

#[tokio::test]
async fn every_secret_access_is_audited() {
    let s = state(Role::Zone);
    call(&s, LOCAL, Method::GET, "/global-secrets", None).await;
    let secret = json!({"type": "GlobalSecret", "name": "g", "data": "eA=="});
    call(&s, LOCAL, Method::PUT, "/global-secrets/g", Some(secret)).await;
    call(&s, LOCAL, Method::GET, "/global-secrets/g", None).await;
    call(&s, LOCAL, Method::DELETE, "/global-secrets/g", None).await;
    let actions: Vec<String> = audit_events(&s)
        .iter()
        .filter(|e| e["event"] == "secret")
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["list", "create", "read", "delete"]);
}
