//! Printing resources as a table (Kuma's columns), YAML or JSON.
//!
//! Pure formatting: nothing here talks to a control plane or reads files.

use clap::ValueEnum;
use kuma_core::resources::{ResourceType, Scope};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

mod dataplanes;
mod insights;
mod zones;

/// `-o`: how to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Yaml,
    Json,
}

/// Headers of the tables of global-scoped records.
const NAME_AGE: [&str; 2] = ["NAME", "AGE"];

/// Columns and rows, printed left-aligned with three spaces between columns (Go's tabwriter with
/// kumactl's padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Kuma's table for `items` of type `ty`, ages measured at `now`.
    pub fn of(ty: ResourceType, items: &[Value], now: OffsetDateTime) -> Self {
        let headers = match (ty, ty.scope()) {
            (ResourceType::Mesh, _) => vec![
                "NAME",
                "mTLS",
                "METRICS",
                "LOGGING",
                "TRACING",
                "LOCALITY",
                "ZONEEGRESS",
                "AGE",
            ],
            (_, Scope::Global) => NAME_AGE.to_vec(),
            (_, Scope::Mesh) => vec!["MESH", "NAME", "AGE"],
        };
        let rows = items
            .iter()
            .map(|item| {
                let age = age(item, now);
                match (ty, ty.scope()) {
                    (ResourceType::Mesh, _) => vec![
                        text(item, "name"),
                        backend(item, "mtls", "enabledBackend"),
                        backend(item, "metrics", "enabledBackend"),
                        backend(item, "logging", "defaultBackend"),
                        backend(item, "tracing", "defaultBackend"),
                        on_off(&item["routing"]["localityAwareLoadBalancing"]),
                        on_off(&item["routing"]["zoneEgress"]),
                        age,
                    ],
                    (_, Scope::Global) => vec![text(item, "name"), age],
                    (_, Scope::Mesh) => vec![text(item, "mesh"), text(item, "name"), age],
                }
            })
            .collect();
        Self { headers, rows }
    }

    /// The table as text, one line per row, header first.
    pub fn render(&self) -> String {
        let lines = std::iter::once(self.headers.iter().map(|h| h.to_string()).collect())
            .chain(self.rows.iter().cloned())
            .collect::<Vec<Vec<String>>>();
        let columns = self.headers.len();
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                lines.iter().map(|l| l.get(i).map_or(0, |c| c.chars().count())).max().unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for line in lines {
            for (i, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if i + 1 < line.len() {
                    let pad = widths[i] - cell.chars().count() + 3;
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Prints `value` (a resource or a list response) as YAML or JSON, or builds and prints the
/// table for [`Format::Table`].
pub fn document(
    format: Format,
    value: &Value,
    table: impl FnOnce() -> Table,
) -> Result<String, serde_json::Error> {
    Ok(match format {
        Format::Table => table().render(),
        Format::Json => serde_json::to_string_pretty(value)? + "\n",
        // Every JSON value has a YAML form, so this cannot fail on values read as JSON.
        Format::Yaml => serde_yaml_ng::to_string(value).unwrap_or_default(),
    })
}

/// Kubernetes' `HumanDuration`, which kumactl uses for AGE: `45s`, `3m20s`, `5h`, `3d4h`, `2y`.
pub fn human_duration(d: time::Duration) -> String {
    let secs = d.whole_seconds().max(0);
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86400);
    match () {
        _ if secs < 120 => format!("{secs}s"),
        _ if mins < 10 && secs % 60 != 0 => format!("{mins}m{}s", secs % 60),
        _ if mins < 180 => format!("{mins}m"),
        _ if hours < 8 && mins % 60 != 0 => format!("{hours}h{}m", mins % 60),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 192 && hours % 24 != 0 => format!("{days}d{}h", hours % 24),
        _ if days < 365 * 2 => format!("{days}d"),
        _ if days < 365 * 8 && days % 365 != 0 => format!("{}y{}d", days / 365, days % 365),
        _ => format!("{}y", days / 365),
    }
}

fn text(item: &Value, field: &str) -> String {
    item[field].as_str().unwrap_or_default().to_owned()
}

fn age(item: &Value, now: OffsetDateTime) -> String {
    item["creationTime"].as_str().map_or_else(|| "unknown".to_owned(), |t| ago(t, now))
}

/// How long before `now` the RFC 3339 time `t` was, or `unknown` when it does not parse.
fn ago(t: &str, now: OffsetDateTime) -> String {
    OffsetDateTime::parse(t, &Rfc3339)
        .map_or_else(|_| "unknown".to_owned(), |t| human_duration(now - t))
}

/// `type/name` of the backend a mesh section selects, or `off`.
fn backend(item: &Value, section: &str, selector: &str) -> String {
    let section = &item[section];
    let Some(name) = section[selector].as_str().filter(|n| !n.is_empty()) else {
        return "off".to_owned();
    };
    let kind = section["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["name"] == name)
        .and_then(|b| b["type"].as_str())
        .unwrap_or("unknown");
    format!("{kind}/{name}")
}

fn on_off(value: &Value) -> String {
    if value.as_bool() == Some(true) { "on" } else { "off" }.to_owned()
}

#[cfg(test)]
mod tests;
