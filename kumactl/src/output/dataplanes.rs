//! The `inspect dataplanes` table: one row per `DataplaneOverview` (a Dataplane with the insight
//! the zone's DP server keeps), in Kuma's columns.

use std::collections::BTreeSet;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::zones::UNTRACKED;
use super::{Table, ago, text};

/// Kuma's `inspect dataplanes` columns.
const HEADERS: [&str; 17] = [
    "MESH",
    "NAME",
    "TAGS",
    "STATUS",
    "LAST CONNECTED AGO",
    "LAST UPDATED AGO",
    "TOTAL UPDATES",
    "TOTAL ERRORS",
    "CERT REGENERATED AGO",
    "CERT EXPIRATION",
    "CERT REGENERATIONS",
    "CERT BACKEND",
    "SUPPORTED CERT BACKENDS",
    "KUMA-DP VERSION",
    "ENVOY VERSION",
    "DEPENDENCIES VERSIONS",
    "NOTES",
];

impl Table {
    /// `kumactl inspect dataplanes`: ages measured at `now`.
    pub fn dataplane_overviews(items: &[Value], now: OffsetDateTime) -> Self {
        let rows = items.iter().map(|item| row(item, now)).collect();
        Self { headers: HEADERS.to_vec(), rows }
    }
}

fn row(item: &Value, now: OffsetDateTime) -> Vec<String> {
    let insight = &item["dataplaneInsight"];
    let newest = insight["subscriptions"].as_array().and_then(|s| s.last());
    let online = newest.is_some_and(|s| s["disconnectTime"].is_null());
    let connected = newest
        .and_then(|s| s["connectTime"].as_str())
        .map_or_else(|| "never".to_owned(), |t| ago(t, now));
    let mtls = &insight["mTLS"];
    let regenerated = mtls["lastCertificateRegeneration"]
        .as_str()
        .map_or_else(|| "never".to_owned(), |t| ago(t, now));
    let expiration = mtls["certificateExpirationTime"]
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .and_then(|t| {
            t.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).ok()
        })
        .unwrap_or_else(|| UNTRACKED.to_owned());
    let regenerations = mtls["certificateRegenerations"].as_u64().unwrap_or(0).to_string();
    let backend = mtls["issuedBackend"].as_str().filter(|b| !b.is_empty()).unwrap_or(UNTRACKED);
    let newest_version = |component: &str| {
        newest
            .and_then(|s| s["version"][component]["version"].as_str())
            .filter(|v| !v.is_empty())
            .unwrap_or(UNTRACKED)
            .to_owned()
    };
    let supported = mtls["supportedBackends"]
        .as_array()
        .map(|b| b.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| UNTRACKED.to_owned());
    vec![
        text(item, "mesh"),
        text(item, "name"),
        tags(&item["dataplane"]),
        if online { "Online" } else { "Offline" }.to_owned(),
        connected,
        UNTRACKED.to_owned(),
        UNTRACKED.to_owned(),
        UNTRACKED.to_owned(),
        regenerated,
        expiration,
        regenerations,
        backend.to_owned(),
        supported,
        newest_version("kumaDp"),
        newest_version("envoy"),
        UNTRACKED.to_owned(),
        UNTRACKED.to_owned(),
    ]
}

/// Every inbound tag as `key=value`, sorted and unique, space-separated (Kuma prints them so).
fn tags(dataplane: &Value) -> String {
    let mut all = BTreeSet::new();
    for inbound in dataplane["networking"]["inbound"].as_array().into_iter().flatten() {
        for (key, value) in inbound["tags"].as_object().into_iter().flatten() {
            all.insert(format!("{key}={}", value.as_str().unwrap_or_default()));
        }
    }
    all.into_iter().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn rows_show_status_certificate_figures_and_tags() {
        let now = datetime!(2026-11-23 10:00:00 UTC);
        let online = json!({
            "mesh": "default", "name": "web-1",
            "dataplane": {"networking": {"inbound": [
                {"tags": {"kuma.io/service": "web", "version": "v1"}},
                {"tags": {"kuma.io/service": "web"}}]}},
            "dataplaneInsight": {
                "subscriptions": [{"connectTime": "2026-11-23T09:58:00Z",
                                   "version": {"kumaDp": {"version": "0.1.0"},
                                               "envoy": {"version": "1.40.0"}}}],
                "mTLS": {"certificateExpirationTime": "2026-12-23T09:58:00Z",
                         "lastCertificateRegeneration": "2026-11-23T09:59:00Z",
                         "certificateRegenerations": 3, "issuedBackend": "ca-1",
                         "supportedBackends": ["ca-1"]}}
        });
        let offline = json!({"mesh": "default", "name": "db",
            "dataplane": {"networking": {"inbound": []}}, "dataplaneInsight": {}});
        let table = Table::dataplane_overviews(&[online, offline], now);
        assert_eq!(table.headers.len(), 17);
        let web = &table.rows[0];
        assert_eq!(web[2], "kuma.io/service=web version=v1");
        assert_eq!(web[3], "Online");
        assert_eq!(web[4], "2m");
        assert_eq!(web[8], "60s");
        assert_eq!(web[9], "2026-12-23 09:58:00");
        assert_eq!(web[10], "3");
        assert_eq!(web[11], "ca-1");
        assert_eq!(web[12], "ca-1");
        assert_eq!((web[13].as_str(), web[14].as_str()), ("0.1.0", "1.40.0"));
        let db = &table.rows[1];
        assert_eq!(
            (db[3].as_str(), db[4].as_str(), db[9].as_str(), db[11].as_str(), db[13].as_str()),
            ("Offline", "never", "-", "-", "-")
        );
    }
}
