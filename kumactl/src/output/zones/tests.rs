use serde_json::{Value, json};
use time::macros::datetime;

use super::*;
use crate::output::{Format, document};

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);
const FIXTURE: &str = include_str!("../../../testdata/zone-overviews.json");

fn fixture() -> (Value, Vec<Value>) {
    let list: Value = serde_json::from_str(FIXTURE).unwrap();
    let items = list["items"].as_array().unwrap().clone();
    (list, items)
}

#[test]
fn overview_table_shows_status_from_the_newest_subscription() {
    let (_, items) = fixture();
    let want = "\
NAME            STATUS    LAST CONNECTED AGO   LAST UPDATED AGO   TOTAL UPDATES   TOTAL ERRORS   ZONE-CP VERSION
zone-1          Online    5h                   -                  -               -              2.14.0
zone-2          Offline   3d4h                 -                  -               -              -
zone-3          Offline   never                -                  -               -              -
zone-disabled   Offline   45s                  -                  -               -              -
";
    assert_eq!(Table::zone_overviews(&items, NOW).render(), want);
}

#[test]
fn a_reconnected_zone_is_online_and_a_disconnected_one_is_not() {
    let sub = |id: &str, disconnect: Option<&str>| {
        let mut s =
            json!({"id": id, "globalInstanceId": "g", "connectTime": "2025-06-01T11:00:00Z"});
        if let Some(t) = disconnect {
            s["disconnectTime"] = json!(t);
        }
        s
    };
    let overview = |subs: Vec<Value>| json!({"name": "z", "zone": {"enabled": true}, "zoneInsight": {"subscriptions": subs}});
    let status = |item: Value| Table::zone_overviews(&[item], NOW).rows[0][1].clone();

    // Subscriptions are oldest first: only the last one decides.
    let reconnected = overview(vec![sub("old", Some("2025-06-01T10:00:00Z")), sub("new", None)]);
    assert_eq!(status(reconnected), "Online");
    let gone = overview(vec![sub("old", None), sub("new", Some("2025-06-01T11:30:00Z"))]);
    assert_eq!(status(gone), "Offline");
}

#[test]
fn overview_without_zone_or_insight_fields_is_an_offline_zone_that_never_connected() {
    let row = &Table::zone_overviews(&[json!({"name": "bare"})], NOW).rows[0];
    assert_eq!(row[..3], ["bare", "Offline", "never"]);
}

#[test]
fn unparsable_connect_time_is_unknown() {
    let item = json!({"name": "z", "zoneInsight": {"subscriptions": [
        {"id": "a", "globalInstanceId": "g", "connectTime": "yesterday"}]}});
    let row = &Table::zone_overviews(&[item], NOW).rows[0];
    assert_eq!(row[..3], ["z", "Online", "unknown"]);
}

#[test]
fn insight_table_lists_names_and_ages() {
    let items = [json!({"type": "ZoneInsight", "name": "zone-1",
        "creationTime": "2025-06-01T11:57:00Z", "subscriptions": []})];
    assert_eq!(Table::zone_insights(&items, NOW).render(), "NAME     AGE\nzone-1   3m\n");
    assert_eq!(Table::zone_insights(&[], NOW).render(), "NAME   AGE\n");
}

#[test]
fn json_and_yaml_print_the_server_document_unchanged() {
    let (list, items) = fixture();
    let table = || Table::zone_overviews(&items, NOW);
    let json = document(Format::Json, &list, table).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), list);
    let yaml = document(Format::Yaml, &list, table).unwrap();
    assert_eq!(serde_yaml_ng::from_str::<Value>(&yaml).unwrap(), list);
}
