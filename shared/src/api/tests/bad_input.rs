//! Bad input the API once accepted and stored, now refused: one row per input, each with the
//! status, Kuma's error title and the field named, and a check that nothing was stored.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{LOCAL, call, call_with, mesh, state};
use crate::api::Role;

/// One refused request.
struct Case {
    what: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: String,
    status: StatusCode,
    /// The `invalid_parameters` field expected, for 400s.
    field: Option<&'static str>,
}

fn case(what: &'static str, path: &'static str, body: Value, field: &'static str) -> Case {
    Case {
        what,
        path,
        content_type: Some("application/json"),
        body: body.to_string(),
        status: StatusCode::BAD_REQUEST,
        field: Some(field),
    }
}

fn media(what: &'static str, path: &'static str, content_type: Option<&'static str>) -> Case {
    Case {
        what,
        path,
        content_type,
        body: mesh("m-media").to_string(),
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        field: None,
    }
}

fn dataplane(networking: Value) -> Value {
    json!({"type": "Dataplane", "mesh": "default", "name": "dp-1", "networking": networking})
}

fn cases() -> Vec<Case> {
    let builtin = json!({"name": "ca-1", "type": "builtin"});
    let inbound = json!({"port": 8080, "tags": {"kuma.io/service": "web"}});
    vec![
        case(
            "mtls as an array",
            "/meshes/m-1",
            json!({"type": "Mesh", "name": "m-1", "mtls": ["ca-1", [builtin]]}),
            "mtls",
        ),
        case(
            "a CA backend as an array",
            "/meshes/m-2",
            json!({"type": "Mesh", "name": "m-2",
                   "mtls": {"enabledBackend": "ca-1", "backends": [["ca-1", "builtin"]]}}),
            "mtls.backends[0]",
        ),
        case(
            "a builtin CA's caCert as an array",
            "/meshes/m-3",
            json!({"type": "Mesh", "name": "m-3", "mtls": {"enabledBackend": "ca-1",
                   "backends": [{"name": "ca-1", "type": "builtin",
                                 "conf": {"caCert": [4096, "1h"]}}]}}),
            "mtls.backends[0].conf.caCert",
        ),
        case(
            "dpCert as an array",
            "/meshes/m-4",
            json!({"type": "Mesh", "name": "m-4", "mtls": {"enabledBackend": "ca-1",
                   "backends": [{"name": "ca-1", "type": "builtin", "dpCert": [["1d"]]}]}}),
            "mtls.backends[0].dpCert",
        ),
        case(
            "a Dataplane's networking as an array",
            "/meshes/default/dataplanes/dp-1",
            dataplane(json!(["10.0.0.1", [inbound.clone()]])),
            "networking",
        ),
        case(
            "an inbound as an array",
            "/meshes/default/dataplanes/dp-1",
            dataplane(json!({"address": "10.0.0.1", "inbound": [[8080]]})),
            "networking.inbound[0]",
        ),
        case(
            "a service probe's tcp as an array",
            "/meshes/default/dataplanes/dp-1",
            dataplane(json!({"address": "10.0.0.1", "inbound": [{"port": 8080,
                "tags": {"kuma.io/service": "web"}, "serviceProbe": {"tcp": []}}]})),
            "networking.inbound[0].serviceProbe.tcp",
        ),
        case(
            "a permission's source as an array",
            "/meshes/default/traffic-permissions/tp",
            json!({"type": "TrafficPermission", "mesh": "default", "name": "tp",
                   "sources": [[{"kuma.io/service": "*"}]],
                   "destinations": [{"match": {"kuma.io/service": "*"}}]}),
            "sources[0]",
        ),
        case(
            "two inbounds on one address and port",
            "/meshes/default/dataplanes/dp-1",
            dataplane(json!({"address": "10.0.0.1", "inbound": [inbound.clone(), inbound]})),
            "networking.inbound[1].port",
        ),
        case(
            "an address that is neither an IP nor a host name",
            "/meshes/default/dataplanes/dp-1",
            dataplane(json!({"address": "10.0.0.300",
                             "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]})),
            "networking.address",
        ),
        case("a token request as an array", "/tokens/dataplane", json!(["web-1", "default"]), ""),
        case(
            "a dataplane token's tag values as a string",
            "/tokens/dataplane",
            json!({"mesh": "default", "tags": {"kuma.io/service": "web"}}),
            "tags[\"kuma.io/service\"]",
        ),
        case(
            "a zero validity",
            "/tokens/zone",
            json!({"zone": "zone-1", "scope": ["cp"], "validFor": "0s"}),
            "validFor",
        ),
        case(
            "an unknown zone token scope",
            "/tokens/zone",
            json!({"zone": "zone-1", "scope": ["ingress", "admin"], "validFor": "1h"}),
            "scope[1]",
        ),
        case(
            "a zone name KDS would refuse",
            "/tokens/zone",
            json!({"zone": "zone 1", "scope": ["cp"], "validFor": "1h"}),
            "zone",
        ),
        case(
            "an over-long zone name",
            "/tokens/zone",
            json!({"zone": "z".repeat(64), "scope": ["cp"], "validFor": "1h"}),
            "zone",
        ),
        case(
            "an over-long dataplane name",
            "/tokens/dataplane",
            json!({"name": "d".repeat(254), "mesh": "default", "validFor": "1h"}),
            "name",
        ),
        case(
            "an over-long user name",
            "/tokens/user",
            json!({"name": "u".repeat(254), "validFor": "1h"}),
            "name",
        ),
        media("a text body", "/meshes/m-media", Some("text/plain")),
        media("a form body", "/meshes/m-media", Some("application/x-www-form-urlencoded")),
        media("a body without Content-Type", "/meshes/m-media", None),
        media("a token request as text", "/tokens/user", Some("text/plain")),
    ]
}

#[tokio::test]
async fn bad_inputs_are_refused_naming_the_field_and_nothing_is_stored() {
    let s = state(Role::Zone);
    let r = call(&s, LOCAL, Method::PUT, "/meshes/default", Some(mesh("default"))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    for case in cases() {
        let method = if case.path.starts_with("/tokens/") { Method::POST } else { Method::PUT };
        let headers = [("content-type", case.content_type.unwrap_or_default())];
        let r = call_with(&s, LOCAL, method, case.path, Some(case.body.clone()), &headers).await;
        assert_eq!(r.status, case.status, "{}: {}", case.what, r.body);
        assert_eq!(r.body["status"], case.status.as_u16(), "{}: {}", case.what, r.body);
        match case.field {
            Some(field) => {
                let fields: Vec<&str> = r.body["invalid_parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["field"].as_str())
                    .collect();
                assert_eq!(fields, [field], "{}: {}", case.what, r.body);
                assert_eq!(r.body["title"], "Resource is not valid", "{}", case.what);
            }
            None => {
                assert_eq!(r.body["title"], "Unsupported Media Type", "{}", case.what);
                let detail = r.body["detail"].as_str().unwrap_or_default();
                assert!(detail.contains("application/json or application/yaml"), "{detail}");
            }
        }
        if !case.path.starts_with("/tokens/") {
            let r = call(&s, LOCAL, Method::GET, case.path, None).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{} was stored", case.what);
        }
    }
    let r = call(&s, LOCAL, Method::GET, "/meshes", None).await;
    assert_eq!(r.body["total"], 1, "{}", r.body);
}

#[tokio::test]
async fn yaml_bodies_are_read_like_json() {
    let s = state(Role::Zone);
    let yaml = "type: Mesh\nname: from-yaml\nmtls:\n  enabledBackend: ca-1\n  backends:\n  \
                - name: ca-1\n    type: builtin\n";
    let headers = [("content-type", "application/yaml")];
    let r =
        call_with(&s, LOCAL, Method::PUT, "/meshes/from-yaml", Some(yaml.into()), &headers).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["mtls"]["backends"][0]["name"], "ca-1");
    let bad = "type: Mesh\nname: m\nmtls: [ca-1]\n";
    let r = call_with(&s, LOCAL, Method::PUT, "/meshes/m", Some(bad.into()), &headers).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["invalid_parameters"][0]["field"], "mtls");
}
