//! Tables of the zones registry a global keeps: `inspect zones` (one row per `ZoneOverview`)
//! and `get zone-insights`.
//!
//! Pure formatting of the API's JSON, like the rest of `output`; which endpoint the rows come
//! from is the command's business.

use kuma_core::resources::insight::ZoneInsight;
use serde_json::Value;
use time::OffsetDateTime;

use super::{NAME_AGE, Table, age, ago, text};

/// Printed in Kuma's columns that this control plane does not track (the time of the last
/// update and the update and error counters of a KDS subscription), and for a version the zone
/// did not report.
pub const UNTRACKED: &str = "-";

/// Kuma's `inspect zones` columns.
const OVERVIEW_HEADERS: [&str; 7] = [
    "NAME",
    "STATUS",
    "LAST CONNECTED AGO",
    "LAST UPDATED AGO",
    "TOTAL UPDATES",
    "TOTAL ERRORS",
    "ZONE-CP VERSION",
];

impl Table {
    /// `kumactl inspect zones`: one row per zone overview (`{name, zone, zoneInsight}`), ages
    /// measured at `now`.
    pub fn zone_overviews(items: &[Value], now: OffsetDateTime) -> Self {
        let rows = items.iter().map(|item| overview_row(item, now)).collect();
        Self { headers: OVERVIEW_HEADERS.to_vec(), rows }
    }

    /// `kumactl get zone-insights`: name and age of each insight.
    pub fn zone_insights(items: &[Value], now: OffsetDateTime) -> Self {
        let rows = items.iter().map(|item| vec![text(item, "name"), age(item, now)]).collect();
        Self { headers: NAME_AGE.to_vec(), rows }
    }
}

fn overview_row(item: &Value, now: OffsetDateTime) -> Vec<String> {
    // An insight we cannot read is shown as a zone that never connected rather than failing
    // the whole table.
    let insight: ZoneInsight =
        serde_json::from_value(item["zoneInsight"].clone()).unwrap_or_default();
    let newest = insight.subscriptions.last();
    // As in Kuma, a disabled zone is offline even while its stream is open; `enabled` defaults
    // to true when absent.
    let enabled = item["zone"]["enabled"].as_bool().unwrap_or(true);
    let status = if enabled && insight.is_online() { "Online" } else { "Offline" };
    let connected = newest.map_or_else(|| "never".to_owned(), |s| ago(&s.connect_time, now));
    let version = newest
        .and_then(|s| s.version.as_ref())
        .and_then(|v| v["kumaCp"]["version"].as_str())
        .filter(|v| !v.is_empty())
        .unwrap_or(UNTRACKED);
    vec![
        text(item, "name"),
        status.to_owned(),
        connected,
        UNTRACKED.to_owned(),
        UNTRACKED.to_owned(),
        UNTRACKED.to_owned(),
        version.to_owned(),
    ]
}

#[cfg(test)]
mod tests;
