//! Router tests: requests go through `router(state, routes).oneshot(..)` without a socket.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

pub(super) const LOCAL: &str = "127.0.0.1:40000";
pub(super) const REMOTE: &str = "192.0.2.7:40000";

fn admins() -> crate::config::Allowed {
    crate::config::Allowed { users: vec![], groups: vec!["mesh-system:admin".into()] }
}

/// Router state over a memory store; its audit log is in memory ([`audit_events`]).
pub(super) fn state(role: Role) -> ApiState {
    state_with(role, true)
}

pub(super) fn state_with(role: Role, localhost_is_admin: bool) -> ApiState {
    state_from(config(role, localhost_is_admin))
}

fn config(role: Role, localhost_is_admin: bool) -> ApiConfig {
    ApiConfig {
        role,
        auth: AuthSettings { localhost_is_admin, anonymous_can_write: false },
        access: crate::config::Access {
            admin_resources: admins(),
            generate_dp_token: admins(),
            generate_user_token: admins(),
            generate_zone_token: admins(),
        },
        issuers: Issuers { user: true, dataplane: true, zone: true },
        read_only: false,
        create_mesh_routing_resources: false,
        max_body_bytes: 4096,
        request_timeout: Duration::from_secs(5),
        tokens_rate_limit: crate::config::RateLimit::OFF,
        config_json: json!({"mode": "zone"}),
        index: Index {
            hostname: "test".into(),
            tagline: "Kuma".into(),
            product: "Kuma".into(),
            version: "0.0.0".into(),
            based_on_kuma: "2.14.3".into(),
            instance_id: "i".into(),
            cluster_id: "c".into(),
            gui: "no gui".into(),
        },
    }
}

fn state_from(config: ApiConfig) -> ApiState {
    let store = Store::memory();
    let audit = AuditLog::memory();
    let credentials = Credentials::new(store.clone(), Default::default(), audit.clone());
    ApiState::new(
        store,
        config,
        Services {
            credentials,
            audit,
            metrics: Metrics::new(),
            kds_status: Default::default(),
            insights: crate::insights::Insights::empty(),
        },
    )
}

/// The audit events recorded so far.
pub(super) fn audit_events(state: &ApiState) -> Vec<Value> {
    state.inner.services.audit.recorded()
}

pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) etag: Option<String>,
    pub(super) body: Value,
}

pub(super) async fn call(
    state: &ApiState,
    from: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    call_with(state, from, method, path, body.map(|b| b.to_string()), &[]).await
}

pub(super) async fn call_with(
    state: &ApiState,
    from: &str,
    method: Method,
    path: &str,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> Reply {
    let peer: SocketAddr = from.parse().unwrap();
    let mut req =
        Request::builder().method(method).uri(path).header(header::HOST, "localhost:5681");
    // A body is JSON unless the test says otherwise; an empty content-type means none at all.
    if body.is_some() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    for (k, v) in headers.iter().filter(|(_, v)| !v.is_empty()) {
        req = req.header(*k, *v);
    }
    let mut req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = router(state.clone(), Router::new()).oneshot(req).await.unwrap();
    let status = resp.status();
    let etag = resp.headers().get(header::ETAG).map(|v| v.to_str().unwrap().to_owned());
    let bytes = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Reply { status, etag, body }
}

pub(super) fn mesh(name: &str) -> Value {
    json!({"type": "Mesh", "name": name})
}

fn dataplane(mesh: &str, name: &str) -> Value {
    json!({
        "type": "Dataplane", "mesh": mesh, "name": name,
        "networking": {
            "address": "127.0.0.1",
            "inbound": [{"port": 8080, "servicePort": 80, "tags": {"kuma.io/service": "web"}}]
        }
    })
}

#[tokio::test]
async fn a_new_mesh_gets_allow_all_only_when_routing_resources_are_asked_for() {
    for create in [false, true] {
        let s = state_from(ApiConfig {
            create_mesh_routing_resources: create,
            ..config(Role::Zone, true)
        });
        let r = call(&s, LOCAL, Method::PUT, "/meshes/demo", Some(mesh("demo"))).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let path = "/meshes/demo/traffic-permissions/allow-all-demo";
        let r = call(&s, LOCAL, Method::GET, path, None).await;
        if !create {
            assert_eq!(r.status, StatusCode::NOT_FOUND, "Kuma 2.14 creates none by default");
            continue;
        }
        assert_eq!(r.status, StatusCode::OK);
        let all = json!([{"match": {"kuma.io/service": "*"}}]);
        assert_eq!((&r.body["sources"], &r.body["destinations"]), (&all, &all));
        // Updating the mesh leaves a changed permission alone.
        let one = json!({"type": "TrafficPermission", "mesh": "demo", "name": "allow-all-demo",
            "sources": [{"match": {"kuma.io/service": "web"}}], "destinations": all});
        assert_eq!(call(&s, LOCAL, Method::PUT, path, Some(one)).await.status, StatusCode::OK);
        call(&s, LOCAL, Method::PUT, "/meshes/demo", Some(mesh("demo"))).await;
        let r = call(&s, LOCAL, Method::GET, path, None).await;
        assert_eq!(r.body["sources"][0]["match"]["kuma.io/service"], "web");
    }
}

#[tokio::test]
async fn index_and_config_are_served() {
    let s = state(Role::Zone);
    let r = call(&s, REMOTE, Method::GET, "/", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["product"], "Kuma");
    assert_eq!(r.body["basedOnKuma"], "2.14.3");
    let r = call(&s, REMOTE, Method::GET, "/config", None).await;
    assert_eq!(r.body["mode"], "zone");
}

#[tokio::test]
async fn mesh_is_created_then_updated_with_versions() {
    let s = state(Role::Zone);
    let r = call(&s, LOCAL, Method::PUT, "/meshes/default", Some(mesh("default"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.etag.as_deref(), Some("\"1\""));
    let r = call(&s, LOCAL, Method::PUT, "/meshes/default", Some(mesh("default"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.etag.as_deref(), Some("\"2\""));

    let r = call(&s, REMOTE, Method::GET, "/meshes/default", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["type"], "Mesh");
    assert_eq!(r.body["name"], "default");
    assert!(r.body["creationTime"].is_string());
    assert!(r.body["modificationTime"].is_string());

    let r = call(&s, REMOTE, Method::GET, "/meshes", None).await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["name"], "default");
}

#[tokio::test]
async fn stale_if_match_is_a_conflict_and_changes_nothing() {
    let s = state(Role::Zone);
    call(&s, LOCAL, Method::PUT, "/meshes/m1", Some(mesh("m1"))).await;
    call(&s, LOCAL, Method::PUT, "/meshes/m1", Some(mesh("m1"))).await;
    let body = Some(json!({"type": "Mesh", "name": "m1", "labels": {"a": "b"}}).to_string());
    let r = call_with(&s, LOCAL, Method::PUT, "/meshes/m1", body, &[("if-match", "\"1\"")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["status"], 409);
    let r = call(&s, LOCAL, Method::GET, "/meshes/m1", None).await;
    assert!(r.body.get("labels").is_none());
    assert_eq!(r.etag.as_deref(), Some("\"2\""));
}

#[tokio::test]
async fn anonymous_callers_read_but_do_not_write() {
    let s = state(Role::Zone);
    let r = call(&s, REMOTE, Method::PUT, "/meshes/default", Some(mesh("default"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["title"], "Access Denied");
    let r = call(&s, REMOTE, Method::GET, "/meshes", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["total"], 0);
}

#[tokio::test]
async fn proxied_local_request_is_anonymous() {
    let s = state(Role::Zone);
    let body = Some(mesh("default").to_string());
    let headers = [("x-forwarded-for", "192.0.2.1")];
    let r = call_with(&s, LOCAL, Method::PUT, "/meshes/default", body, &headers).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn secrets_are_admin_only() {
    let s = state(Role::Zone);
    call(&s, LOCAL, Method::PUT, "/meshes/default", Some(mesh("default"))).await;
    let secret = json!({"type": "Secret", "mesh": "default", "name": "s1", "data": "c2VjcmV0"});
    let r = call(&s, LOCAL, Method::PUT, "/meshes/default/secrets/s1", Some(secret)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    for path in
        ["/secrets", "/meshes/default/secrets", "/meshes/default/secrets/s1", "/global-secrets"]
    {
        let r = call(&s, REMOTE, Method::GET, path, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            r.body["detail"].as_str().unwrap().split(" cannot").next().unwrap(),
            "user \"mesh-system:anonymous/mesh-system:unauthenticated\""
        );
        let r = call(&s, LOCAL, Method::GET, path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    let r = call(&s, LOCAL, Method::GET, "/meshes/default/secrets/s1", None).await;
    assert_eq!(r.body["data"], "c2VjcmV0");
}

#[tokio::test]
async fn invalid_resource_names_the_field_and_stores_nothing() {
    let s = state(Role::Zone);
    let bad =
        json!({"type": "Mesh", "name": "m", "mtls": {"enabledBackend": "nope", "backends": []}});
    let r = call(&s, LOCAL, Method::PUT, "/meshes/m", Some(bad)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["title"], "Resource is not valid");
    let fields: Vec<&str> = r.body["invalid_parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"mtls.enabledBackend"), "{fields:?}");
    let r = call(&s, LOCAL, Method::GET, "/meshes/m", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_json_and_oversized_bodies_are_refused() {
    let s = state(Role::Zone);
    let r = call_with(&s, LOCAL, Method::PUT, "/meshes/m", Some("{not json".into()), &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().contains("not valid JSON"));

    let big = json!({"type": "Mesh", "name": "m", "labels": {"k": "v".repeat(8192)}}).to_string();
    let r = call_with(&s, LOCAL, Method::PUT, "/meshes/m", Some(big), &[]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["status"], 413);
}

#[tokio::test]
async fn body_must_match_the_path() {
    let s = state(Role::Zone);
    let r = call(&s, LOCAL, Method::PUT, "/meshes/a", Some(mesh("b"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["invalid_parameters"][0]["field"], "name");
}

#[tokio::test]
async fn resource_in_a_missing_mesh_is_refused() {
    let s = state(Role::Zone);
    let r =
        call(&s, LOCAL, Method::PUT, "/meshes/nope/dataplanes/dp", Some(dataplane("nope", "dp")))
            .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["invalid_parameters"][0]["field"], "mesh");
}

#[tokio::test]
async fn global_refuses_dataplane_writes_with_kumas_message() {
    let s = state(Role::Global);
    call(&s, LOCAL, Method::PUT, "/meshes/default", Some(mesh("default"))).await;
    let r = call(
        &s,
        LOCAL,
        Method::PUT,
        "/meshes/default/dataplanes/dp",
        Some(dataplane("default", "dp")),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("On global control plane you can not modify")
    );
}

#[tokio::test]
async fn federated_zone_refuses_global_types_but_takes_dataplanes() {
    let s = state(Role::FederatedZone);
    let r = call(&s, LOCAL, Method::PUT, "/meshes/default", Some(mesh("default"))).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("On zone control plane you can only modify zone resources")
    );
}

#[tokio::test]
async fn dataplanes_are_listed_per_mesh_and_across_meshes() {
    let s = state(Role::Zone);
    for m in ["a", "b"] {
        call(&s, LOCAL, Method::PUT, &format!("/meshes/{m}"), Some(mesh(m))).await;
        let r = call(
            &s,
            LOCAL,
            Method::PUT,
            &format!("/meshes/{m}/dataplanes/dp"),
            Some(dataplane(m, "dp")),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = call(&s, REMOTE, Method::GET, "/meshes/a/dataplanes", None).await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["mesh"], "a");
    let r = call(&s, REMOTE, Method::GET, "/dataplanes", None).await;
    assert_eq!(r.body["total"], 2);
    let r = call(&s, REMOTE, Method::GET, "/dataplanes?size=1", None).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["next"], "/dataplanes?offset=1&size=1");
}

#[tokio::test]
async fn deleting_a_mesh_deletes_what_it_holds() {
    let s = state(Role::Zone);
    call(&s, LOCAL, Method::PUT, "/meshes/m", Some(mesh("m"))).await;
    call(&s, LOCAL, Method::PUT, "/meshes/m/dataplanes/dp", Some(dataplane("m", "dp"))).await;
    let r = call(&s, LOCAL, Method::DELETE, "/meshes/m", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&s, LOCAL, Method::GET, "/dataplanes", None).await;
    assert_eq!(r.body["total"], 0);
    let r = call(&s, LOCAL, Method::DELETE, "/meshes/m", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_paths_and_types_are_not_found_and_told_apart() {
    let s = state(Role::Zone);
    for path in ["/nope", "/meshes/default/nope", "/meshes/default/nope/x", "/zones/a/b/c"] {
        let r = call(&s, LOCAL, Method::GET, path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = call(&s, LOCAL, Method::GET, "/meshes/default/nope", None).await;
    assert_eq!(r.body["title"], "Unknown resource type");
    let detail = r.body["detail"].as_str().unwrap();
    let known = "unknown resource type \"nope\"; known types are secrets, dataplanes, ";
    assert!(detail.starts_with(known), "{detail}");
    assert!(!detail.contains("meshes") && !detail.contains("zones"), "mesh-scoped only: {detail}");
    let r = call(&s, LOCAL, Method::GET, "/nope", None).await;
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("unknown resource type \"nope\"; known types are meshes, "),
        "{detail}"
    );
    let r = call(&s, LOCAL, Method::GET, "/secrets/s", None).await;
    assert_eq!(r.body["detail"], "secrets are mesh-scoped: use /meshes/{mesh}/secrets");
    let r = call(&s, LOCAL, Method::GET, "/zones/a/b/c", None).await;
    assert_eq!(r.body["title"], "Not found");
    assert_eq!(r.body["detail"], "there is no endpoint at /zones/a/b/c");
}

#[tokio::test]
async fn resources_and_who_am_i_follow_role_and_caller() {
    let s = state(Role::FederatedZone);
    let r = call(&s, REMOTE, Method::GET, "/_resources", None).await;
    let items = r.body["resources"].as_array().unwrap();
    let mesh = items.iter().find(|i| i["name"] == "Mesh").unwrap();
    assert_eq!((mesh["scope"].as_str(), mesh["readOnly"].as_bool()), (Some("Global"), Some(true)));
    let dp = items.iter().find(|i| i["name"] == "Dataplane").unwrap();
    assert_eq!((dp["path"].as_str(), dp["readOnly"].as_bool()), (Some("dataplanes"), Some(false)));
    let r = call(&s, REMOTE, Method::GET, "/who-am-i", None).await;
    assert_eq!(
        r.body,
        json!({"name": "mesh-system:anonymous", "groups": ["mesh-system:unauthenticated"]})
    );
    let r = call(&s, LOCAL, Method::GET, "/who-am-i", None).await;
    assert_eq!(r.body["name"], "mesh-system:admin");
}

mod bad_input;
