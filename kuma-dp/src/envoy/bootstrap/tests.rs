use serde_json::json;

use super::*;

fn node() -> NodeInfo {
    NodeInfo {
        id: "default.web-01".to_owned(),
        cluster: Some("web".to_owned()),
        metadata: Map::from_iter([("workdir".to_owned(), json!("/w"))]),
    }
}

fn params<'a>(node: &'a NodeInfo, host: &'a str, ads: AdsVariant) -> Params<'a> {
    Params {
        node,
        admin_socket: Path::new("/w/kuma-envoy-admin.sock"),
        sds_socket: Path::new("/w/kuma-sds.sock"),
        cp_host: host,
        cp_port: 5678,
        cp_ca_pem: "-----BEGIN CERTIFICATE-----\n",
        token: "the.jwt.token",
        ads,
    }
}

fn yaml(host: &str, ads: AdsVariant) -> String {
    Bootstrap::new(&params(&node(), host, ads)).to_yaml().unwrap()
}

/// The bootstrap as YAML, read back as JSON values.
fn rendered(host: &str, ads: AdsVariant) -> Value {
    serde_yaml_ng::from_str(&yaml(host, ads)).unwrap()
}

fn cluster<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let clusters = doc["static_resources"]["clusters"].as_array().unwrap();
    clusters.iter().find(|c| c["name"] == name).unwrap()
}

#[test]
fn the_node_admin_and_ads_follow_the_contract() {
    let doc = rendered("cp.example", AdsVariant::Delta);
    assert_eq!(doc["node"]["id"], "default.web-01");
    assert_eq!(doc["node"]["cluster"], "web");
    assert_eq!(doc["node"]["metadata"]["workdir"], "/w");
    assert_eq!(doc["admin"]["address"]["pipe"]["path"], "/w/kuma-envoy-admin.sock");
    assert_eq!(doc["admin"]["address"]["pipe"]["mode"], 0o600);
    let dynamic = &doc["dynamic_resources"];
    for config in ["lds_config", "cds_config"] {
        assert_eq!(
            dynamic[config],
            json!({"ads": {}, "initial_fetch_timeout": "0s",
            "resource_api_version": "V3"})
        );
    }
    let ads = &dynamic["ads_config"];
    assert_eq!(ads["api_type"], "DELTA_GRPC");
    assert_eq!(ads["transport_api_version"], "V3");
    let service = &ads["grpc_services"][0];
    assert_eq!(service["envoy_grpc"]["cluster_name"], "ads_cluster");
    assert_eq!(
        service["initial_metadata"],
        json!([{"key": "authorization",
        "value": "the.jwt.token"}])
    );
    let sotw = rendered("cp.example", AdsVariant::StateOfTheWorld);
    assert_eq!(sotw["dynamic_resources"]["ads_config"]["api_type"], "GRPC");
}

#[test]
fn the_ads_cluster_verifies_the_cp_host_as_a_name_or_an_address() {
    let doc = rendered("cp.example", AdsVariant::Delta);
    let ads = cluster(&doc, "ads_cluster");
    assert_eq!(ads["type"], "STRICT_DNS");
    let address = &ads["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"];
    assert_eq!(address["socket_address"], json!({"address": "cp.example", "port_value": 5678}));
    let tls = &ads["transport_socket"]["typed_config"];
    assert_eq!(tls["sni"], "cp.example");
    assert_eq!(
        tls["common_tls_context"]["validation_context_sds_secret_config"]["name"],
        "cp_validation_ctx"
    );
    assert_eq!(tls["common_tls_context"]["tls_params"]["tls_minimum_protocol_version"], "TLSv1_2");
    assert!(
        ads["typed_extension_protocol_options"][HTTP_OPTIONS_KEY]["explicit_http_config"]
            .get("http2_protocol_options")
            .is_some()
    );
    let secret = &doc["static_resources"]["secrets"][0];
    assert_eq!(secret["name"], "cp_validation_ctx");
    assert_eq!(
        secret["validation_context"]["match_typed_subject_alt_names"],
        json!([{"san_type": "DNS", "matcher": {"exact": "cp.example"}}])
    );
    assert_eq!(
        secret["validation_context"]["trusted_ca"]["inline_string"],
        "-----BEGIN CERTIFICATE-----\n"
    );

    let doc = rendered("10.0.0.7", AdsVariant::Delta);
    let ads = cluster(&doc, "ads_cluster");
    assert_eq!(ads["type"], "STATIC");
    assert!(ads.get("dns_lookup_family").is_none());
    assert_eq!(ads["transport_socket"]["typed_config"]["sni"], "10.0.0.7");
    let sans = &doc["static_resources"]["secrets"][0]["validation_context"]["match_typed_subject_alt_names"];
    assert_eq!(sans, &json!([{"san_type": "IP_ADDRESS", "matcher": {"exact": "10.0.0.7"}}]));
}

#[test]
fn the_sds_cluster_is_http2_over_the_socket_in_plain_text() {
    let doc = rendered("cp.example", AdsVariant::Delta);
    let sds = cluster(&doc, "kuma:sds");
    assert_eq!(sds["type"], "STATIC");
    let address = &sds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"];
    assert_eq!(address, &json!({"pipe": {"path": "/w/kuma-sds.sock"}}));
    assert!(sds.get("transport_socket").is_none());
    assert_eq!(
        sds["typed_extension_protocol_options"][HTTP_OPTIONS_KEY]["@type"],
        HTTP_OPTIONS_TYPE
    );
    assert!(!yaml("cp.example", AdsVariant::Delta).contains("PRIVATE KEY"));
}
