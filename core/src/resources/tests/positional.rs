//! No struct of any resource is ever filled from a JSON array.
//!
//! For each type, a document using every typed part of its spec is walked: every object in it,
//! at any depth, is replaced in turn by the array of its values (what serde's derived
//! `Deserialize` would read positionally), and the document must then be refused with a
//! violation at exactly that path. The samples are chosen per type by an exhaustive `match`, so a
//! new type cannot be added without one.

use serde_json::{Value, json};

use super::super::*;
use crate::ca;

/// A valid document of `ty` that reaches every struct of its spec.
fn sample(ty: ResourceType) -> Value {
    match ty {
        ResourceType::Mesh => json!({
            "type": "Mesh", "name": "m", "labels": {"team": "a"},
            "mtls": {
                "enabledBackend": "ca-1",
                "backends": [{
                    "name": "ca-1", "type": "builtin", "mode": "PERMISSIVE",
                    "dpCert": {"rotation": {"expiration": "1d"}, "requestTimeout": "5s"},
                    "conf": {"caCert": {"RSAbits": 2048, "expiration": "10y"}},
                    "rootChain": {"requestTimeout": "5s"}
                }]
            },
            "logging": {"defaultBackend": "f", "backends": [
                {"name": "f", "type": "file", "conf": {"path": "/tmp/log"}}]},
            "metrics": {"enabledBackend": "p", "backends": [
                {"name": "p", "type": "prometheus", "conf": {"port": 5670}}]},
            "tracing": {"defaultBackend": "z", "backends": [
                {"name": "z", "type": "zipkin", "sampling": 50, "conf": {"url": "http://z"}}]},
            "networking": {"outbound": {"passthrough": true}},
            "routing": {"localityAwareLoadBalancing": true},
            "constraints": {"dataplaneProxy": {"requirements": [{"tags": {"k": "v"}}]}}
        }),
        ResourceType::Secret => json!({"type": "Secret", "mesh": "m", "name": "s", "data": "YQ=="}),
        ResourceType::GlobalSecret => json!({"type": "GlobalSecret", "name": "g", "data": "YQ=="}),
        ResourceType::Zone => json!({"type": "Zone", "name": "z", "enabled": true}),
        ResourceType::Dataplane => json!({
            "type": "Dataplane", "mesh": "m", "name": "d",
            "networking": {
                "address": "10.0.0.1",
                "inbound": [{
                    "port": 8080, "servicePort": 80, "tags": {"kuma.io/service": "web"},
                    "health": {"ready": true}, "serviceProbe": {"interval": "1s", "tcp": {}}
                }],
                "outbound": [{"port": 10001, "tags": {"kuma.io/service": "db"}},
                             {"port": 10002, "backendRef": {"kind": "MeshService", "name": "db",
                                             "labels": {"k": "v"}}}],
                "admin": {"port": 9901},
                "transparentProxying": {"redirectPortInbound": 15006, "reachableBackends": {
                    "refs": [{"kind": "MeshService", "name": "db", "labels": {"k": "v"}}]}}
            },
            "metrics": {"type": "prometheus", "conf": {"port": 5670}},
            "probes": {"port": 9000, "endpoints": [{"inboundPort": 8080, "path": "/"}]}
        }),
        ResourceType::TrafficPermission => json!({
            "type": "TrafficPermission", "mesh": "m", "name": "tp",
            "sources": [{"match": {"kuma.io/service": "*"}}],
            "destinations": [{"match": {"kuma.io/service": "web"}}]
        }),
        ResourceType::MeshTrafficPermission => json!({
            "type": "MeshTrafficPermission", "mesh": "m", "name": "mtp",
            "spec": {
                "targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/service": "web"}},
                "from": [{"targetRef": {"kind": "MeshService", "labels": {"k": "v"}},
                          "default": {"action": "Allow"}}]
            }
        }),
        ResourceType::ZoneIngress => json!({
            "type": "ZoneIngress", "name": "zi",
            "networking": {"address": "10.0.0.2", "advertisedAddress": "192.0.2.1", "port": 10001,
                           "advertisedPort": 10001, "admin": {"port": 9902}},
            "availableServices": [{"tags": {"kuma.io/service": "web"}, "instances": 1,
                                   "mesh": "m"}]
        }),
    }
}

/// Decodes `doc` as the API does, with the CA conf checks the API runs for a Mesh.
fn check(doc: Value) -> Result<(), ValidationError> {
    let resource = decode(doc)?;
    if let Spec::Mesh(mesh) = &resource.spec {
        ca::validate_mesh_backends(&resource.meta.name, mesh, &|_| None)?;
    }
    Ok(())
}

/// The path of every object below the root, printed as violations print paths.
fn objects(value: &Value, path: &str, out: &mut Vec<String>) {
    let child = |key: &str| {
        let plain = key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
        match (path.is_empty(), plain) {
            (true, _) => key.to_owned(),
            (false, true) => format!("{path}.{key}"),
            (false, false) => format!("{path}[{}]", Value::from(key)),
        }
    };
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let at = child(key);
                if v.is_object() {
                    out.push(at.clone());
                }
                objects(v, &at, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let at = format!("{path}[{i}]");
                if v.is_object() {
                    out.push(at.clone());
                }
                objects(v, &at, out);
            }
        }
        _ => {}
    }
}

/// Replaces the value at `path` (as [`objects`] prints it) by the array of its values.
fn positional(doc: &mut Value, path: &str) {
    let mut at = doc;
    for step in steps(path) {
        at = match step {
            Step::Key(key) => &mut at[key.as_str()],
            Step::Index(i) => &mut at[i],
        };
    }
    let values: Vec<Value> =
        at.as_object().map(|m| m.values().cloned().collect()).unwrap_or_default();
    *at = Value::Array(values);
}

enum Step {
    Key(String),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]").unwrap();
            out.push(Step::Key(r[..end].to_owned()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap();
            out.push(Step::Index(r[..end].parse().unwrap()));
            rest = &r[end + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Step::Key(rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn every_object_of_every_type_given_as_an_array_is_refused_at_its_path() {
    let mut walked = 0;
    for ty in ResourceType::ALL {
        let doc = sample(ty);
        check(doc.clone()).unwrap_or_else(|e| panic!("the {ty} sample is invalid: {e}"));
        let mut paths = Vec::new();
        objects(&doc, "", &mut paths);
        for path in paths {
            let mut bad = doc.clone();
            positional(&mut bad, &path);
            let err = check(bad.clone()).expect_err(&format!("{ty} accepted {path} as an array"));
            assert!(
                err.violations.iter().any(|v| v.field == path),
                "{ty}: {path} as an array should be refused there, got {err}\n{bad}"
            );
            walked += 1;
        }
    }
    // Every type's sample has nested objects except Secret, GlobalSecret and Zone.
    assert!(walked >= 40, "only {walked} positions walked");
}

#[test]
fn a_whole_document_given_as_an_array_is_refused() {
    for ty in ResourceType::ALL {
        let doc = sample(ty);
        let values: Vec<Value> = doc.as_object().unwrap().values().cloned().collect();
        let err = decode(Value::Array(values)).unwrap_err();
        assert_eq!(err.to_string(), "resource has to be an object", "{ty}");
    }
}
