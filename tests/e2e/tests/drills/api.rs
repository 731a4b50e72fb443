//! Reading a control plane's REST API from outside, as an anonymous caller: only what the drills
//! assert on. Writes go through `kumactl` inside the lab, where the caller is a local admin.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use shared::testing::cp::http_client;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A control plane as seen from outside: its HTTP API (`http://10.228.0.2:5681`) and its
/// diagnostics server (`http://10.228.0.2:5680`).
#[derive(Clone, Debug)]
pub struct Cp {
    pub api: String,
    pub diagnostics: String,
}

/// What a zone says about its KDS connection (`GET /status/kds`).
#[derive(Debug)]
pub struct KdsStatus {
    pub state: String,
    pub last_error: String,
}

/// A proxy's certificate figures and sessions, from the zone's dataplane overview.
#[derive(Clone, Debug)]
pub struct DpCert {
    pub regenerations: u64,
    pub last_regeneration: Option<OffsetDateTime>,
    pub expiration: Option<OffsetDateTime>,
    /// Connect time of the newest session that has not ended.
    pub connected_since: Option<OffsetDateTime>,
}

impl Cp {
    pub fn new(api: String, diagnostics: String) -> Self {
        Self { api, diagnostics }
    }

    /// `GET path` as JSON; `None` when the CP does not answer or answers an error.
    pub async fn get(&self, path: &str) -> Option<Value> {
        let resp = http_client().get(format!("{}{path}", self.api)).send().await.ok()?;
        (resp.status() == StatusCode::OK).then_some(())?;
        resp.json().await.ok()
    }

    pub async fn kds_status(&self) -> Option<KdsStatus> {
        let status = self.get("/status/kds").await?;
        Some(KdsStatus {
            state: status["state"].as_str().unwrap_or_default().to_owned(),
            last_error: status["lastError"].as_str().unwrap_or_default().to_owned(),
        })
    }

    pub async fn connected(&self) -> bool {
        self.kds_status().await.is_some_and(|s| s.state == "connected")
    }

    /// On a global: every zone and whether its newest KDS subscription is still open.
    pub async fn zones(&self) -> Option<BTreeMap<String, bool>> {
        let overview = self.get("/zones/_overview").await?;
        let items = overview["items"].as_array()?;
        Some(
            items
                .iter()
                .map(|zone| {
                    let subscriptions = zone["zoneInsight"]["subscriptions"].as_array();
                    let online = subscriptions
                        .and_then(|s| s.last())
                        .is_some_and(|last| last["disconnectTime"].is_null());
                    (zone["name"].as_str().unwrap_or_default().to_owned(), online)
                })
                .collect(),
        )
    }

    /// The names of the zones that are online, sorted.
    pub async fn online_zones(&self) -> Option<Vec<String>> {
        let zones = self.zones().await?;
        Some(zones.into_iter().filter(|(_, online)| *online).map(|(name, _)| name).collect())
    }

    /// On a global: every Dataplane as `(display name, kuma.io/zone)`, in the store's order and
    /// with duplicates kept, so a test can see them.
    pub async fn dataplanes(&self) -> Option<Vec<(String, String)>> {
        let list = self.get("/dataplanes?size=1000").await?;
        let items = list["items"].as_array()?;
        Some(
            items
                .iter()
                .map(|dp| {
                    let labels = &dp["labels"];
                    let name = labels["kuma.io/display-name"].as_str().or(dp["name"].as_str());
                    let zone = labels["kuma.io/zone"].as_str().unwrap_or_default();
                    (name.unwrap_or_default().to_owned(), zone.to_owned())
                })
                .collect(),
        )
    }

    /// The number of items of a list path (`/meshes`, `/meshes/default/traffic-permissions`).
    pub async fn count(&self, path: &str) -> Option<u64> {
        self.get(path).await?["total"].as_u64()
    }

    /// The display names of the mesh's TrafficPermissions, sorted.
    pub async fn traffic_permissions(&self) -> Option<Vec<String>> {
        let list = self.get("/meshes/default/traffic-permissions").await?;
        let mut names: Vec<String> = list["items"]
            .as_array()?
            .iter()
            .map(|tp| {
                let display = tp["labels"]["kuma.io/display-name"].as_str();
                display.or(tp["name"].as_str()).unwrap_or_default().to_owned()
            })
            .collect();
        names.sort();
        Some(names)
    }

    /// On a zone: each proxy of mesh `default` with its certificate figures.
    pub async fn dp_certs(&self) -> Option<BTreeMap<String, DpCert>> {
        let overview = self.get("/meshes/default/dataplanes/_overview?size=1000").await?;
        let items = overview["items"].as_array()?;
        Some(
            items
                .iter()
                .map(|item| {
                    let insight = &item["dataplaneInsight"];
                    let mtls = &insight["mTLS"];
                    let connected_since = insight["subscriptions"]
                        .as_array()
                        .and_then(|s| s.iter().rev().find(|s| s["disconnectTime"].is_null()))
                        .and_then(|s| timestamp(&s["connectTime"]));
                    let cert = DpCert {
                        regenerations: mtls["certificateRegenerations"].as_u64().unwrap_or(0),
                        last_regeneration: timestamp(&mtls["lastCertificateRegeneration"]),
                        expiration: timestamp(&mtls["certificateExpirationTime"]),
                        connected_since,
                    };
                    (item["name"].as_str().unwrap_or_default().to_owned(), cert)
                })
                .collect(),
        )
    }

    /// The value of a counter on the diagnostics port's `/metrics` (0 when absent).
    pub async fn counter(&self, series: &str) -> u64 {
        let url = format!("{}/metrics", self.diagnostics);
        let Ok(resp) = http_client().get(url).send().await else {
            return 0;
        };
        let text = resp.text().await.unwrap_or_default();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    }
}

fn timestamp(value: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value.as_str()?, &Rfc3339).ok()
}

/// Polls `check` every `every` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(every).await;
    }
}
