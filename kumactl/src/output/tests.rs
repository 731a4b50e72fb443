use serde_json::json;
use time::Duration;
use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

#[test]
fn mesh_table_has_kumas_columns() {
    let meshes = [
        json!({"type":"Mesh","name":"default","creationTime":"2025-06-01T11:58:00Z"}),
        json!({"type":"Mesh","name":"secure","creationTime":"2025-05-30T12:00:00Z",
            "mtls":{"enabledBackend":"ca-1","backends":[{"name":"ca-1","type":"builtin"}]},
            "metrics":{"enabledBackend":"prom","backends":[{"name":"prom","type":"prometheus"}]},
            "routing":{"localityAwareLoadBalancing":true,"zoneEgress":false}}),
    ];
    let want = "\
NAME      mTLS           METRICS           LOGGING   TRACING   LOCALITY   ZONEEGRESS   AGE
default   off            off               off       off       off        off          2m
secure    builtin/ca-1   prometheus/prom   off       off       on         off          2d
";
    assert_eq!(Table::of(ResourceType::Mesh, &meshes, NOW).render(), want);
}

#[test]
fn mesh_scoped_and_global_tables() {
    let secrets = [
        json!({"type":"Secret","mesh":"default","name":"token-signing","creationTime":"2025-06-01T11:59:15Z"}),
    ];
    let want = "MESH      NAME            AGE\ndefault   token-signing   45s\n";
    assert_eq!(Table::of(ResourceType::Secret, &secrets, NOW).render(), want);

    let zones = [json!({"type":"Zone","name":"zone-1"})];
    let want = "NAME     AGE\nzone-1   unknown\n";
    assert_eq!(Table::of(ResourceType::Zone, &zones, NOW).render(), want);
}

#[test]
fn empty_list_prints_only_the_header() {
    let out = Table::of(ResourceType::GlobalSecret, &[], NOW).render();
    assert_eq!(out, "NAME   AGE\n");
}

#[test]
fn ages_read_like_kubernetes() {
    let cases = [
        (Duration::seconds(-3), "0s"),
        (Duration::seconds(119), "119s"),
        (Duration::seconds(200), "3m20s"),
        (Duration::minutes(5), "5m"),
        (Duration::minutes(150), "150m"),
        (Duration::minutes(200), "3h20m"),
        (Duration::hours(30), "30h"),
        (Duration::hours(76), "3d4h"),
        (Duration::days(400), "400d"),
        (Duration::days(800), "2y70d"),
        (Duration::days(365 * 9), "9y"),
    ];
    for (d, want) in cases {
        assert_eq!(human_duration(d), want, "{d}");
    }
}

#[test]
fn yaml_and_json_print_the_server_document() {
    let list = json!({"total":1,"items":[{"type":"Zone","name":"z"}],"next":null});
    let items = list["items"].as_array().unwrap();
    let yaml = document(Format::Yaml, &list, || Table::of(ResourceType::Zone, items, NOW)).unwrap();
    assert_eq!(yaml, "total: 1\nitems:\n- type: Zone\n  name: z\nnext: null\n");
    let json = document(Format::Json, &list, || Table::of(ResourceType::Zone, items, NOW)).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), list);
}
