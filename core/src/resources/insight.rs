//! Insights in Kuma's JSON shapes: records the control plane writes about connections (a zone's
//! KDS subscriptions) and every client reads (the REST API, kumactl). Shapes only; who writes
//! them and when is the control plane's business.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The store kind of zone insights (written by the global's KDS server).
pub const ZONE_INSIGHT_KIND: &str = "ZoneInsight";
/// The store kind of dataplane insights (written by the zone's DP server).
pub const DATAPLANE_INSIGHT_KIND: &str = "DataplaneInsight";

/// Kuma's `ZoneInsight` in its JSON form (only the fields we fill).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneInsight {
    /// Newest last.
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// The last health check ping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

/// One KDS connection of a zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Unique per connection.
    pub id: String,
    /// The global instance that served it.
    pub global_instance_id: String,
    /// The zone CP instance (`control-plane-id` of the zone's Node metadata), if sent.
    #[serde(default)]
    pub zone_instance_id: String,
    /// RFC 3339.
    pub connect_time: String,
    /// RFC 3339; absent while connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_time: Option<String>,
    /// Whether exactly one `authorization` header came with the stream.
    #[serde(default)]
    pub auth_token_provided: bool,
    /// How authentication went: `zoneToken`, `none` (auth disabled).
    #[serde(default)]
    pub auth: String,
    /// The zone CP's version, as it reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<serde_json::Value>,
}

/// The last health check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// RFC 3339.
    pub time: String,
}

impl ZoneInsight {
    /// Online: the newest subscription has not ended.
    pub fn is_online(&self) -> bool {
        self.subscriptions.last().is_some_and(|s| s.disconnect_time.is_none())
    }
}

/// RFC 3339 in UTC, as Kuma prints the times of insights.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}
