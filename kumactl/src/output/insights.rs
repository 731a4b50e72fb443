//! Tables of the insights a control plane keeps: `inspect meshes` (each mesh with its mTLS
//! backend and the figures of its `MeshInsight`) and `inspect services` (each `ServiceInsight`).

use serde_json::Value;

use super::zones::UNTRACKED;
use super::{Table, backend, text};

const MESH_HEADERS: [&str; 7] =
    ["NAME", "mTLS", "ISSUED BACKENDS", "SUPPORTED BACKENDS", "DPs", "SERVICES", "POLICIES"];
const SERVICE_HEADERS: [&str; 5] = ["SERVICE", "TYPE", "STATUS", "DPs", "ISSUED BACKENDS"];

impl Table {
    /// `kumactl inspect meshes`: one row per mesh of `meshes` (the resources), with the figures
    /// of its insight from `insights` (`-` when the control plane has none for it yet). DPs is
    /// `online/total`.
    pub fn mesh_insights(meshes: &[Value], insights: &[Value]) -> Self {
        let rows = meshes
            .iter()
            .map(|mesh| {
                let name = text(mesh, "name");
                let insight = insights.iter().find(|i| i["name"] == name.as_str());
                let figures = insight.map_or_else(
                    || vec![UNTRACKED.to_owned(); 5],
                    |i| {
                        let dps = &i["dataplanes"];
                        let policies: u64 = i["policies"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .filter_map(|(_, p)| p["total"].as_u64())
                            .sum();
                        vec![
                            counts(&i["mTLS"]["issuedBackends"]),
                            counts(&i["mTLS"]["supportedBackends"]),
                            format!("{}/{}", number(&dps["online"]), number(&dps["total"])),
                            number(&i["services"]["total"]),
                            policies.to_string(),
                        ]
                    },
                );
                let mut row = vec![name, backend(mesh, "mtls", "enabledBackend")];
                row.extend(figures);
                row
            })
            .collect();
        Self { headers: MESH_HEADERS.to_vec(), rows }
    }

    /// `kumactl inspect services`: one row per service insight. DPs is `online/total`.
    pub fn service_insights(items: &[Value]) -> Self {
        let rows = items
            .iter()
            .map(|s| {
                let dps = &s["dataplanes"];
                let issued = s["issuedBackends"]
                    .as_object()
                    .filter(|m| !m.is_empty())
                    .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
                    .unwrap_or_else(|| UNTRACKED.to_owned());
                vec![
                    text(s, "name"),
                    text(s, "serviceType"),
                    text(s, "status"),
                    format!("{}/{}", number(&dps["online"]), number(&dps["total"])),
                    issued,
                ]
            })
            .collect();
        Self { headers: SERVICE_HEADERS.to_vec(), rows }
    }
}

fn number(value: &Value) -> String {
    value.as_u64().unwrap_or(0).to_string()
}

/// `name=total` for each backend of an insight's `issuedBackends` (or `supportedBackends`), or
/// `-` when there is none.
fn counts(backends: &Value) -> String {
    let parts: Vec<String> = backends
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, stat)| format!("{name}={}", number(&stat["total"])))
        .collect();
    if parts.is_empty() { UNTRACKED.to_owned() } else { parts.join(",") }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn mesh_rows_join_the_mesh_and_its_insight() {
        let meshes = [
            json!({"name": "default", "mtls": {"enabledBackend": "ca-1",
                   "backends": [{"name": "ca-1", "type": "builtin"}]}}),
            json!({"name": "new"}),
        ];
        let insights = [json!({"name": "default",
            "dataplanes": {"total": 3, "online": 2},
            "mTLS": {"issuedBackends": {"ca-1": {"total": 2}},
                     "supportedBackends": {"ca-1": {"total": 2}, "ca-2": {"total": 1}}},
            "services": {"total": 2},
            "policies": {"TrafficPermission": {"total": 1}}})];
        let table = Table::mesh_insights(&meshes, &insights);
        assert_eq!(
            table.rows[0],
            ["default", "builtin/ca-1", "ca-1=2", "ca-1=2,ca-2=1", "2/3", "2", "1"]
        );
        assert_eq!(table.rows[1], ["new", "off", "-", "-", "-", "-", "-"]);
    }

    #[test]
    fn service_rows_show_type_status_and_counts() {
        let items = [json!({"name": "web", "serviceType": "internal", "status": "online",
                            "dataplanes": {"online": 2, "total": 2},
                            "issuedBackends": {"ca-1": 2}})];
        let table = Table::service_insights(&items);
        assert_eq!(table.rows[0], ["web", "internal", "online", "2/2", "ca-1"]);
    }
}
