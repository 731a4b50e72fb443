//! The mesh view: what the generator reads about one mesh at one store generation — its mTLS
//! mode, its Dataplanes, its permission policies — and the index derived from them once for every
//! proxy (the healthy endpoints of each service). A view is immutable and shared by every proxy
//! of the mesh; its parts are shared between successive views, so a policy change does not copy
//! the Dataplanes, and only a Dataplane change walks them all again.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use kuma_core::resources::{
    DataplaneSpec, MeshSpec, MeshTrafficPermission, Mode, SERVICE_TAG, TrafficPermissionSpec,
};
use time::OffsetDateTime;

/// mTLS of a mesh, as the generator sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mtls {
    /// No mTLS: plain traffic, no RBAC.
    #[default]
    Off,
    /// Inbounds accept only mTLS from the mesh CA.
    Strict,
    /// Inbounds accept mTLS and plaintext.
    Permissive,
}

/// One Dataplane.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataplane {
    /// Its name.
    pub name: String,
    /// Its spec.
    pub spec: DataplaneSpec,
    /// Its labels (MeshTrafficPermission can select by them).
    pub labels: BTreeMap<String, String>,
}

/// A policy with what ordering needs beside its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy<S> {
    /// Its name.
    pub name: String,
    /// When it was created (ties between equally specific policies go to the latest).
    pub created: OffsetDateTime,
    /// Its spec.
    pub spec: S,
}

/// A healthy inbound of some Dataplane, as an endpoint of its service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    /// Where other proxies reach it (`advertisedAddress`, else the inbound address).
    pub ip: IpAddr,
    /// The inbound's listener port.
    pub port: u32,
    /// The inbound's tags.
    pub tags: BTreeMap<String, String>,
}

/// Everything the generator reads about one mesh.
#[derive(Debug, Clone, Default)]
pub struct MeshView {
    /// The mesh name.
    pub mesh: String,
    /// Its mTLS mode.
    pub mtls: Mtls,
    /// Its Dataplanes by name.
    pub dataplanes: Arc<BTreeMap<String, Arc<Dataplane>>>,
    /// Its TrafficPermissions.
    pub traffic_permissions: Arc<Vec<Policy<TrafficPermissionSpec>>>,
    /// Its MeshTrafficPermissions.
    pub mesh_traffic_permissions: Arc<Vec<Policy<MeshTrafficPermission>>>,
    /// Healthy endpoints per `kuma.io/service`, sorted; derived from `dataplanes`.
    endpoints: Arc<HashMap<String, Vec<Endpoint>>>,
}

impl Mtls {
    /// The mode a Mesh spec asks for.
    pub fn of(spec: &MeshSpec) -> Self {
        match spec.enabled_backend().map(|b| b.mode) {
            None => Self::Off,
            Some(Mode::Strict) => Self::Strict,
            Some(Mode::Permissive) => Self::Permissive,
        }
    }
}

impl MeshView {
    /// A view of `mesh` (with `spec`) holding these resources.
    pub fn new(
        mesh: &str,
        spec: &MeshSpec,
        dataplanes: impl IntoIterator<Item = Arc<Dataplane>>,
        traffic_permissions: Vec<Policy<TrafficPermissionSpec>>,
        mesh_traffic_permissions: Vec<Policy<MeshTrafficPermission>>,
    ) -> Self {
        let view = Self {
            mesh: mesh.to_owned(),
            mtls: Mtls::of(spec),
            traffic_permissions: Arc::new(traffic_permissions),
            mesh_traffic_permissions: Arc::new(mesh_traffic_permissions),
            ..Self::default()
        };
        view.with_dataplanes(dataplanes.into_iter().map(|dp| (dp.name.clone(), dp)).collect())
    }

    /// This view with other Dataplanes (and the endpoints derived from them).
    pub fn with_dataplanes(&self, dataplanes: BTreeMap<String, Arc<Dataplane>>) -> Self {
        let mut endpoints: HashMap<String, Vec<Endpoint>> = HashMap::new();
        for dp in dataplanes.values() {
            for (service, endpoint) in healthy_endpoints(&dp.spec) {
                endpoints.entry(service).or_default().push(endpoint);
            }
        }
        endpoints.values_mut().for_each(|list| list.sort());
        Self { dataplanes: Arc::new(dataplanes), endpoints: Arc::new(endpoints), ..self.clone() }
    }

    /// This view with another Mesh spec.
    pub fn with_mesh(&self, spec: &MeshSpec) -> Self {
        Self { mtls: Mtls::of(spec), ..self.clone() }
    }

    /// This view with other TrafficPermissions.
    pub fn with_traffic_permissions(&self, policies: Vec<Policy<TrafficPermissionSpec>>) -> Self {
        Self { traffic_permissions: Arc::new(policies), ..self.clone() }
    }

    /// This view with other MeshTrafficPermissions.
    pub fn with_mesh_traffic_permissions(
        &self,
        policies: Vec<Policy<MeshTrafficPermission>>,
    ) -> Self {
        Self { mesh_traffic_permissions: Arc::new(policies), ..self.clone() }
    }

    /// The healthy endpoints of `service`, sorted by address.
    pub fn endpoints(&self, service: &str) -> &[Endpoint] {
        self.endpoints.get(service).map_or(&[], Vec::as_slice)
    }
}

/// The inbounds of `spec` that take traffic, with their service. An inbound is healthy unless
/// `health.ready` is false or its `state` says otherwise; one whose address is not an IP (a DNS
/// name) cannot be an EDS endpoint and is left out.
fn healthy_endpoints(spec: &DataplaneSpec) -> Vec<(String, Endpoint)> {
    let Some(net) = &spec.networking else { return Vec::new() };
    net.inbound
        .iter()
        .filter(|i| i.health.as_ref().is_none_or(|h| h.ready))
        .filter(|i| i.state.as_deref().is_none_or(|s| s == "Ready"))
        .filter_map(|inbound| {
            let service = inbound.tags.get(SERVICE_TAG)?.clone();
            let address = net
                .advertised_address
                .as_deref()
                .or(inbound.address.as_deref())
                .unwrap_or(&net.address);
            let ip = address.parse().ok()?;
            Some((service, Endpoint { ip, port: inbound.port, tags: inbound.tags.clone() }))
        })
        .collect()
}
