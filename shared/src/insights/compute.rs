//! What the insights say, in Kuma's JSON shapes (`GlobalInsight`, `MeshInsight`,
//! `ServiceInsight`), computed from the records alone: pure functions, no store, no clock.
//!
//! A dataplane is `online` while a DP server session is open and every inbound is ready,
//! `partiallyDegraded` when some inbounds are not, `offline` otherwise (a gateway only needs the
//! session), as Kuma counts them. A service's status follows its dataplanes: all online, all
//! offline, or partially degraded.

use std::collections::BTreeMap;

use kuma_core::resources::insight::{
    DATAPLANE_INSIGHT_KIND, ZONE_INSIGHT_KIND, ZoneInsight, rfc3339,
};
use kuma_core::resources::{DataplaneSpec, GatewayType, ResourceType, SERVICE_TAG, Scope};
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::Records;
use crate::api::Role;

/// Every insight at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `GET /global-insight`.
    pub global: Value,
    /// `GET /mesh-insights/{mesh}`, by mesh.
    pub meshes: BTreeMap<String, Value>,
    /// `GET /meshes/{mesh}/service-insights`: by mesh, each service's insight sorted by name.
    pub services: BTreeMap<String, Vec<Value>>,
}

/// Kuma's `FullStatus`: how many, and how many in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Stat {
    total: u64,
    online: u64,
    offline: u64,
    partially_degraded: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Online,
    Offline,
    PartiallyDegraded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Standard,
    GatewayBuiltin,
    GatewayDelegated,
}

/// What the insights need of one dataplane and its insight.
struct Proxy<'a> {
    mesh: &'a str,
    kind: Kind,
    status: Status,
    services: Vec<String>,
    kuma_dp: String,
    envoy: String,
    issued: Option<String>,
    supported: Vec<String>,
}

impl Stat {
    fn add(&mut self, status: Status) {
        self.total += 1;
        match status {
            Status::Online => self.online += 1,
            Status::Offline => self.offline += 1,
            Status::PartiallyDegraded => self.partially_degraded += 1,
        }
    }

    fn status(&self) -> &'static str {
        match () {
            _ if self.total > 0 && self.online == self.total => "online",
            _ if self.offline == self.total => "offline",
            _ => "partially_degraded",
        }
    }
}

/// Every insight from `records`, stamped `now`.
pub(super) fn snapshot(records: &Records, role: Role, now: OffsetDateTime) -> Snapshot {
    let proxies: Vec<Proxy<'_>> =
        records.of(ResourceType::Dataplane.name()).filter_map(|r| proxy(records, r)).collect();
    let time = rfc3339(now);
    let mut meshes = BTreeMap::new();
    let mut services = BTreeMap::new();
    for mesh in records.of(ResourceType::Mesh.name()) {
        let name = mesh.key.name.as_str();
        let in_mesh: Vec<&Proxy<'_>> = proxies.iter().filter(|p| p.mesh == name).collect();
        let service_items = service_insights(name, &in_mesh, &time);
        let created = rfc3339(mesh.creation_time);
        meshes.insert(
            name.to_owned(),
            mesh_insight(records, name, &in_mesh, &service_items, &created, &time),
        );
        services.insert(name.to_owned(), service_items);
    }
    Snapshot { global: global_insight(records, role, &proxies, &services, &time), meshes, services }
}

fn proxy<'a>(records: &Records, record: &'a store::Record) -> Option<Proxy<'a>> {
    let spec: DataplaneSpec = serde_json::from_value(record.spec.clone()).ok()?;
    let net = spec.networking.as_ref()?;
    let insight = records
        .get(DATAPLANE_INSIGHT_KIND, &record.key.mesh, &record.key.name)
        .map_or(&Value::Null, |r| &r.spec);
    let subscriptions = insight["subscriptions"].as_array().map(Vec::as_slice).unwrap_or_default();
    let connected =
        subscriptions.iter().any(|s| s["connectTime"].is_string() && s["disconnectTime"].is_null());
    let (kind, services) = match &net.gateway {
        Some(g) => {
            let kind = match g.kind {
                GatewayType::Builtin => Kind::GatewayBuiltin,
                GatewayType::Delegated => Kind::GatewayDelegated,
            };
            (kind, g.tags.get(SERVICE_TAG).cloned().into_iter().collect())
        }
        None => {
            let mut services: Vec<String> =
                net.inbound.iter().filter_map(|i| i.tags.get(SERVICE_TAG).cloned()).collect();
            services.sort();
            services.dedup();
            (Kind::Standard, services)
        }
    };
    let not_ready = net
        .inbound
        .iter()
        .filter(|i| {
            i.health.as_ref().is_some_and(|h| !h.ready)
                || i.state.as_deref().is_some_and(|s| s != "Ready")
        })
        .count();
    let status = match () {
        _ if !connected => Status::Offline,
        _ if kind != Kind::Standard || not_ready == 0 => Status::Online,
        _ if not_ready == net.inbound.len() => Status::Offline,
        _ => Status::PartiallyDegraded,
    };
    let newest = subscriptions.last().unwrap_or(&Value::Null);
    let version = |component: &str| {
        newest["version"][component]["version"].as_str().unwrap_or("unknown").to_owned()
    };
    let mtls = &insight["mTLS"];
    Some(Proxy {
        mesh: &record.key.mesh,
        kind,
        status,
        services,
        kuma_dp: version("kumaDp"),
        envoy: version("envoy"),
        issued: mtls["issuedBackend"].as_str().filter(|b| !b.is_empty()).map(str::to_owned),
        supported: mtls["supportedBackends"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b.as_str().map(str::to_owned))
            .collect(),
    })
}

/// The services of `proxies` (one mesh's), with each one's type and dataplane counts.
fn service_insights(mesh: &str, proxies: &[&Proxy<'_>], time: &str) -> Vec<Value> {
    let mut by_name: BTreeMap<&str, (Kind, Stat, BTreeMap<&str, u64>)> = BTreeMap::new();
    for proxy in proxies {
        for service in &proxy.services {
            let entry =
                by_name.entry(service).or_insert((proxy.kind, Stat::default(), BTreeMap::new()));
            entry.1.add(proxy.status);
            if let Some(backend) = &proxy.issued {
                *entry.2.entry(backend).or_default() += 1;
            }
        }
    }
    by_name
        .into_iter()
        .map(|(name, (kind, stat, issued))| {
            let service_type = match kind {
                Kind::Standard => "internal",
                Kind::GatewayBuiltin => "gateway_builtin",
                Kind::GatewayDelegated => "gateway_delegated",
            };
            json!({
                "type": "ServiceInsight",
                "mesh": mesh,
                "name": name,
                "creationTime": time,
                "modificationTime": time,
                "status": stat.status(),
                "dataplanes": {"online": stat.online, "offline": stat.offline + stat.partially_degraded, "total": stat.total},
                "issuedBackends": issued,
                "serviceType": service_type,
            })
        })
        .collect()
}

fn mesh_insight(
    records: &Records,
    mesh: &str,
    proxies: &[&Proxy<'_>],
    services: &[Value],
    created: &str,
    time: &str,
) -> Value {
    let mut all = Stat::default();
    let mut by_type: BTreeMap<&str, Stat> =
        ["standard", "gateway", "gatewayBuiltin", "gatewayDelegated"]
            .map(|t| (t, Stat::default()))
            .into();
    let mut kuma_dp: BTreeMap<&str, Stat> = BTreeMap::new();
    let mut envoy: BTreeMap<&str, Stat> = BTreeMap::new();
    let mut issued: BTreeMap<&str, Stat> = BTreeMap::new();
    let mut supported: BTreeMap<&str, Stat> = BTreeMap::new();
    for proxy in proxies {
        all.add(proxy.status);
        let kind = match proxy.kind {
            Kind::Standard => "standard",
            Kind::GatewayBuiltin => "gatewayBuiltin",
            Kind::GatewayDelegated => "gatewayDelegated",
        };
        for t in [kind, if proxy.kind == Kind::Standard { "" } else { "gateway" }] {
            if let Some(stat) = by_type.get_mut(t) {
                stat.add(proxy.status);
            }
        }
        kuma_dp.entry(&proxy.kuma_dp).or_default().add(proxy.status);
        envoy.entry(&proxy.envoy).or_default().add(proxy.status);
        if let Some(backend) = &proxy.issued {
            issued.entry(backend).or_default().add(proxy.status);
        }
        for backend in &proxy.supported {
            supported.entry(backend).or_default().add(proxy.status);
        }
    }
    let mut policies = Map::new();
    let mut resources = Map::new();
    for ty in ResourceType::ALL.into_iter().filter(|t| t.scope() == Scope::Mesh) {
        let total = records.of(ty.name()).filter(|r| r.key.mesh == mesh).count();
        resources.insert(ty.name().into(), json!({ "total": total }));
        if is_policy(ty) {
            policies.insert(ty.name().into(), json!({ "total": total }));
        }
    }
    let internal = services.iter().filter(|s| s["serviceType"] == "internal").count();
    json!({
        "type": "MeshInsight",
        "name": mesh,
        "creationTime": created,
        "modificationTime": time,
        "lastSync": time,
        "dataplanes": all,
        "policies": policies,
        "dpVersions": {"kumaDp": kuma_dp, "envoy": envoy},
        "mTLS": {"issuedBackends": issued, "supportedBackends": supported},
        "services": {"total": services.len(), "internal": internal, "external": 0},
        "dataplanesByType": by_type,
        "resources": resources,
    })
}

fn global_insight(
    records: &Records,
    role: Role,
    proxies: &[Proxy<'_>],
    services: &BTreeMap<String, Vec<Value>>,
    time: &str,
) -> Value {
    let mut dataplanes: BTreeMap<&str, Stat> =
        ["standard", "gatewayBuiltin", "gatewayDelegated"].map(|t| (t, Stat::default())).into();
    for proxy in proxies {
        let kind = match proxy.kind {
            Kind::Standard => "standard",
            Kind::GatewayBuiltin => "gatewayBuiltin",
            Kind::GatewayDelegated => "gatewayDelegated",
        };
        if let Some(stat) = dataplanes.get_mut(kind) {
            stat.add(proxy.status);
        }
    }
    let mut by_type: BTreeMap<&str, Stat> = BTreeMap::new();
    for item in services.values().flatten() {
        let stat = by_type.entry(item["serviceType"].as_str().unwrap_or("internal")).or_default();
        stat.total += 1;
        match item["status"].as_str() {
            Some("online") => stat.online += 1,
            Some("offline") => stat.offline += 1,
            _ => stat.partially_degraded += 1,
        }
    }
    let stat = |t: &str| by_type.get(t).copied().unwrap_or_default();
    let mut resources = Map::new();
    let mut policies = 0;
    for ty in ResourceType::ALL {
        let total = records.of(ty.name()).count();
        resources.insert(ty.name().into(), json!({ "total": total }));
        if is_policy(ty) {
            policies += total;
        }
    }
    json!({
        "createdAt": time,
        "services": {
            "total": services.values().map(Vec::len).sum::<usize>(),
            "internal": stat("internal"),
            "external": {"total": 0},
            "gatewayBuiltin": stat("gateway_builtin"),
            "gatewayDelegated": stat("gateway_delegated"),
        },
        "zones": zones(records, role),
        "dataplanes": dataplanes,
        "policies": {"total": policies},
        "meshes": {"total": records.of(ResourceType::Mesh.name()).count()},
        "resources": resources,
    })
}

/// The zones a global knows: a zone control plane is online while its newest KDS subscription
/// is open and the zone is enabled. This control plane keeps no insight of zone ingresses or
/// egresses, so their `online` stays 0.
fn zones(records: &Records, role: Role) -> Value {
    let mut control_planes = json!({"online": 0, "total": 0});
    if role == Role::Global {
        let zones: Vec<&store::Record> = records.of(ResourceType::Zone.name()).collect();
        let online = zones
            .iter()
            .filter(|z| z.spec["enabled"].as_bool() != Some(false))
            .filter(|z| {
                records
                    .get(ZONE_INSIGHT_KIND, "", &z.key.name)
                    .and_then(|r| serde_json::from_value::<ZoneInsight>(r.spec.clone()).ok())
                    .is_some_and(|i| i.is_online())
            })
            .count();
        control_planes = json!({"online": online, "total": zones.len()});
    }
    let ingresses = records.of(ResourceType::ZoneIngress.name()).count();
    json!({
        "controlPlanes": control_planes,
        "zoneIngresses": {"online": 0, "total": ingresses},
        "zoneEgresses": {"online": 0, "total": 0},
    })
}

/// Mesh-scoped types that configure traffic: everything in a mesh but its proxies and secrets.
pub(crate) fn is_policy(ty: ResourceType) -> bool {
    ty.scope() == Scope::Mesh && !matches!(ty, ResourceType::Dataplane | ResourceType::Secret)
}
