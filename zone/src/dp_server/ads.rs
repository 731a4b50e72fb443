//! ADS (`envoy.service.discovery.v3.AggregatedDiscoveryService`) on the DP server port: Envoy
//! of a data plane proxy opens one stream, state of the world or incremental, and receives its
//! listeners, clusters and endpoints.
//!
//! The first request authenticates the stream as the CSR session does: exactly one
//! `authorization` value (the dataplane token), node id `<mesh>.<name>`, the Dataplane from the
//! store (or from node metadata `dataplane.resource` while kuma-dp is still registering it), the
//! token checked against it. The stream then ends when the token stops being valid: at its
//! expiry, or when a change of its mesh's Secrets or of a GlobalSecret (keys, revocations)
//! makes it invalid, which the dispatcher reports within moments.
//!
//! Configuration follows the store: the mesh's [`Views`] publishes a new view per change, the
//! stream generates its proxy's snapshot once from it, and the protocol sends what differs.
//! ACKs and NACKs are counted, NACK reasons logged and recorded in the DataplaneInsight.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryService;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::google::protobuf::{Struct, value};
use kuma_core::resources::insight::rfc3339;
use kuma_core::shutdown::Shutdown;
use shared::net::ConnInfo;
use store::Store;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::auth::Authenticator;
use super::dataplane::{self, Dataplane};
use super::dispatch::Dispatcher;
use super::insight::{self, Subscription, XdsStats, XdsStatus};
use super::session::{STREAM_BUFFER, expiry};
use crate::xds::{self, MeshView, Snapshot, Views, XdsType};

mod delta;
mod inspect;
mod sotw;

pub use inspect::routes;

/// How long Envoy may take to send its first request.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Node metadata key of the inline Dataplane (Kuma's).
const DATAPLANE_RESOURCE: &str = "dataplane.resource";

type Outbound<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The ADS service; cloned into every stream's task.
#[derive(Clone)]
pub struct AdsService {
    pub(super) store: Store,
    pub(super) auth: Authenticator,
    pub(super) views: Views,
    pub(super) dispatcher: Dispatcher,
    pub(super) insights: insight::Writer,
    pub(super) instance_id: String,
    pub(super) shutdown: Shutdown,
    pub(super) snapshots: Snapshots,
    /// `KUMA_XDS_DATAPLANE_STATUS_FLUSH_INTERVAL`: how often counters reach the insight.
    pub(super) status_flush: Duration,
}

/// The latest snapshot of each connected proxy (with the id of the stream that made it), for
/// `GET /meshes/{mesh}/dataplanes/{name}/xds`.
pub type Snapshots = Arc<Mutex<HashMap<(String, String), (String, Arc<Snapshot>)>>>;

/// What a protocol tells the stream about a request or push, for metrics and insights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A response of this type was sent.
    Sent(XdsType),
    /// The proxy accepted the last response of this type.
    Acked(XdsType),
    /// The proxy rejected the last response of this type, saying why.
    Nacked(XdsType, String),
}

/// A discovery protocol (state of the world or incremental) over one stream.
pub trait Protocol: Default + Send + 'static {
    /// What Envoy sends.
    type Request: Send + 'static;
    /// What the control plane answers.
    type Response: Send + 'static;
    /// The node of a request (Envoy sends it on the first one).
    fn node(request: &Self::Request) -> Option<&Node>;
    /// Handles a request against the current snapshot.
    fn request(
        &mut self,
        request: Self::Request,
        snapshot: &Snapshot,
        out: &mut Vec<Self::Response>,
        events: &mut Vec<Event>,
    );
    /// Sends what changed in a new snapshot.
    fn push(&mut self, snapshot: &Snapshot, out: &mut Vec<Self::Response>, events: &mut Vec<Event>);
}

/// Response nonces of one stream.
#[derive(Default)]
pub struct Nonces(u64);

impl Nonces {
    fn next(&mut self) -> String {
        self.0 += 1;
        self.0.to_string()
    }
}

/// An authenticated proxy stream.
struct Proxy {
    id: String,
    dp: Dataplane,
    token: Option<String>,
    expires: Option<OffsetDateTime>,
    source: String,
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for AdsService {
    type StreamAggregatedResourcesStream = Outbound<DiscoveryResponse>;
    type DeltaAggregatedResourcesStream = Outbound<DeltaDiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        self.open::<sotw::Sotw>(request).await
    }

    async fn delta_aggregated_resources(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        self.open::<delta::Delta>(request).await
    }
}

impl AdsService {
    async fn open<P: Protocol>(
        &self,
        request: Request<Streaming<P::Request>>,
    ) -> Result<Response<Outbound<P::Response>>, Status>
    where
        Streaming<P::Request>: Send,
    {
        let source = request
            .extensions()
            .get::<ConnInfo>()
            .map(|i| i.remote_addr.to_string())
            .unwrap_or_default();
        let metadata = request.metadata().clone();
        let mut inbound = request.into_inner();
        let first = match tokio::time::timeout(FIRST_REQUEST_TIMEOUT, inbound.message()).await {
            Err(_) => return Err(Status::deadline_exceeded("no discovery request received")),
            Ok(message) => message?.ok_or_else(|| Status::cancelled("the stream ended"))?,
        };
        let node = P::node(&first).ok_or_else(|| {
            Status::invalid_argument("the first discovery request must carry the node")
        })?;
        let (mesh, name) = node_id(&node.id)?;
        let token = self.auth.token(&metadata, false, &source)?;
        let dp = self.resolve(mesh, name, node).await?;
        let expires = self.auth.check(token.as_deref(), &dp.subject(), &source).await?;
        tracing::info!(%mesh, %name, %source, "data plane proxy opened an ADS stream");
        let proxy = Proxy { id: uuid::Uuid::new_v4().to_string(), dp, token, expires, source };
        let views = self.views.subscribe(mesh).await.map_err(|err| {
            tracing::error!(%mesh, error = %err, "could not read the mesh for xDS");
            Status::unavailable("could not read the mesh")
        })?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let this = self.clone();
        tokio::spawn(async move { this.run::<P>(proxy, first, inbound, views, tx).await });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    /// The stored Dataplane, or the one in node metadata while it is not stored yet.
    async fn resolve(&self, mesh: &str, name: &str, node: &Node) -> Result<Dataplane, Status> {
        if let Some(stored) = dataplane::get(&self.store, mesh, name).await? {
            return Ok(stored);
        }
        match metadata_string(node.metadata.as_ref(), DATAPLANE_RESOURCE) {
            Some(json) => dataplane::parse(&json, mesh, name),
            None => Err(Status::not_found(format!(
                "resource {:?} not found; create a Dataplane in Kuma CP first or pass it as an \
                 argument to kuma-dp",
                format!("{mesh}.{name}")
            ))),
        }
    }

    async fn run<P: Protocol>(
        self,
        mut proxy: Proxy,
        first: P::Request,
        inbound: Streaming<P::Request>,
        views: tokio::sync::watch::Receiver<Arc<MeshView>>,
        tx: mpsc::Sender<Result<P::Response, Status>>,
    ) {
        let (mesh, name) = (proxy.dp.mesh.clone(), proxy.dp.name.clone());
        let metrics = self.auth.metrics.clone();
        metrics.xds_stream(1);
        let subscription = Subscription {
            id: proxy.id.clone(),
            control_plane_instance_id: self.instance_id.clone(),
            connect_time: rfc3339(OffsetDateTime::now_utc()),
            status: Some(XdsStatus::default()),
            ..Default::default()
        };
        self.insights.connected(&mesh, &name, subscription);
        let mut stats = Stats::default();
        let end = self.serve::<P>(&mut proxy, &mut stats, first, inbound, views, &tx).await;
        if stats.dirty {
            self.insights.xds(&mesh, &name, &proxy.id, stats.status());
        }
        match end {
            Ok(()) => tracing::info!(%mesh, %name, "data plane proxy closed its ADS stream"),
            Err(status) if kuma_core::net::peer_went_away(&status) => {
                tracing::info!(%mesh, %name, "data plane proxy went away from its ADS stream");
            }
            Err(status) => {
                tracing::info!(%mesh, %name, %status, "closing the data plane proxy's ADS stream");
                let _ = tx.send(Err(status)).await;
            }
        }
        metrics.xds_stream(-1);
        self.forget_snapshot(&mesh, &name, &proxy.id);
        self.insights.disconnected(&mesh, &name, &proxy.id);
    }

    async fn serve<P: Protocol>(
        &self,
        proxy: &mut Proxy,
        stats: &mut Stats,
        first: P::Request,
        mut inbound: Streaming<P::Request>,
        mut views: tokio::sync::watch::Receiver<Arc<MeshView>>,
        tx: &mpsc::Sender<Result<P::Response, Status>>,
    ) -> Result<(), Status> {
        let watch = self.dispatcher.watch_dataplane(&proxy.dp.mesh, &proxy.dp.name);
        let mut shutdown = self.shutdown.clone();
        let mut protocol = P::default();
        let view = views.borrow_and_update().clone();
        let mut snapshot = self.snapshot(proxy, &view, None);
        stats.warnings(&snapshot.warnings);
        let mut out = Vec::new();
        let mut events = Vec::new();
        protocol.request(first, &snapshot, &mut out, &mut events);
        self.flush(proxy, stats, tx, &mut out, &mut events).await;
        loop {
            tokio::select! {
                () = flush_due(stats.flush_at) => {
                    stats.flush_at = None;
                    self.write_status(proxy, stats);
                }
                () = shutdown.wait() => return Err(Status::unavailable("the control plane is shutting down")),
                () = expiry(proxy.expires) => return Err(self.auth.expired(false, &proxy.source)),
                () = tx.closed() => return Ok(()),
                message = inbound.message() => {
                    let Some(request) = message? else { return Ok(()) };
                    protocol.request(request, &snapshot, &mut out, &mut events);
                }
                changed = views.changed() => {
                    if changed.is_err() {
                        return Err(Status::unavailable("the control plane is shutting down"));
                    }
                    let view = views.borrow_and_update().clone();
                    let next = self.snapshot(proxy, &view, Some(&snapshot));
                    snapshot = next;
                    stats.warnings(&snapshot.warnings);
                    protocol.push(&snapshot, &mut out, &mut events);
                }
                reasons = watch.changed() => {
                    if reasons.token() || reasons.dataplane() {
                        if reasons.dataplane()
                            && let Some(current) = dataplane::get(&self.store, &proxy.dp.mesh, &proxy.dp.name).await?
                        {
                            proxy.dp = current;
                        }
                        let token = proxy.token.as_deref();
                        self.auth.check(token, &proxy.dp.subject(), &proxy.source).await?;
                    }
                }
            }
            self.flush(proxy, stats, tx, &mut out, &mut events).await;
        }
    }

    /// Generates the proxy's snapshot from `view` (its Dataplane as the view has it, else as
    /// the stream knows it).
    fn snapshot(
        &self,
        proxy: &Proxy,
        view: &MeshView,
        previous: Option<&Arc<Snapshot>>,
    ) -> Arc<Snapshot> {
        let started = Instant::now();
        let own = view.dataplanes.get(&proxy.dp.name).cloned().unwrap_or_else(|| {
            Arc::new(xds::Dataplane {
                name: proxy.dp.name.clone(),
                spec: proxy.dp.spec.clone(),
                labels: proxy.dp.labels.clone(),
            })
        });
        let generated = xds::generate(view, &own);
        if previous.is_none_or(|p| p.warnings != generated.warnings) {
            for warning in &generated.warnings {
                tracing::warn!(mesh = %view.mesh, name = %own.name, warning, "part of the Dataplane gets no configuration");
            }
        }
        let snapshot = Arc::new(Snapshot::next(
            previous.map(|p| p.as_ref()),
            generated.resources,
            generated.warnings,
        ));
        self.auth.metrics.xds_generation_time(started.elapsed());
        self.snapshots.lock().unwrap_or_else(PoisonError::into_inner).insert(
            (proxy.dp.mesh.clone(), proxy.dp.name.clone()),
            (proxy.id.clone(), snapshot.clone()),
        );
        snapshot
    }

    /// Drops the snapshot the stream `id` published, unless a newer stream replaced it.
    fn forget_snapshot(&self, mesh: &str, name: &str, id: &str) {
        let mut snapshots = self.snapshots.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (mesh.to_owned(), name.to_owned());
        if snapshots.get(&key).is_some_and(|(owner, _)| owner == id) {
            snapshots.remove(&key);
        }
    }

    /// Writes the stream's counters to its DataplaneInsight now.
    fn write_status(&self, proxy: &Proxy, stats: &mut Stats) {
        stats.dirty = false;
        self.insights.xds(&proxy.dp.mesh, &proxy.dp.name, &proxy.id, stats.status());
    }

    /// Sends the queued responses and records what happened: counted at once, written to the
    /// insight at once for a rejection or new warnings, else within the flush interval (so a
    /// push to every proxy of a mesh is not also a burst of insight writes).
    async fn flush<R>(
        &self,
        proxy: &Proxy,
        stats: &mut Stats,
        tx: &mpsc::Sender<Result<R, Status>>,
        out: &mut Vec<R>,
        events: &mut Vec<Event>,
    ) {
        for response in out.drain(..) {
            // A closed channel means the proxy left; the select loop notices it.
            let _ = tx.send(Ok(response)).await;
        }
        let mut urgent = std::mem::take(&mut stats.changed);
        if events.is_empty() && !urgent {
            return;
        }
        let metrics = &self.auth.metrics;
        for event in events.drain(..) {
            match &event {
                Event::Sent(ty) => metrics.xds_sent(ty.short()),
                Event::Acked(ty) => metrics.xds_acked(ty.short()),
                Event::Nacked(ty, reason) => {
                    urgent = true;
                    metrics.xds_rejected(ty.short());
                    tracing::warn!(
                        mesh = %proxy.dp.mesh, name = %proxy.dp.name, r#type = ty.short(), reason,
                        "the proxy rejected its configuration; it is not sent again until it changes"
                    );
                }
            }
            stats.record(&event);
        }
        stats.dirty = true;
        if urgent {
            stats.flush_at = None;
            self.write_status(proxy, stats);
        } else if stats.flush_at.is_none() {
            stats.flush_at = Some(tokio::time::Instant::now() + self.status_flush);
        }
    }
}

/// Counts of one stream, by type, and what generation left out.
#[derive(Default)]
struct Stats {
    by_type: [XdsStats; 3],
    warnings: Vec<String>,
    /// The warnings changed since the insight was last written.
    changed: bool,
    /// Something is not written to the insight yet.
    dirty: bool,
    /// When the pending counters are written.
    flush_at: Option<tokio::time::Instant>,
}

impl Stats {
    fn warnings(&mut self, warnings: &[String]) {
        if self.warnings != warnings {
            self.warnings = warnings.to_vec();
            self.changed = true;
        }
    }

    fn record(&mut self, event: &Event) {
        match event {
            Event::Sent(ty) => self.by_type[*ty as usize].responses_sent += 1,
            Event::Acked(ty) => self.by_type[*ty as usize].responses_acknowledged += 1,
            Event::Nacked(ty, reason) => {
                let stats = &mut self.by_type[*ty as usize];
                stats.responses_rejected += 1;
                stats.last_rejection = Some(reason.clone());
            }
        }
    }

    fn status(&self) -> XdsStatus {
        let [cds, eds, lds] = self.by_type.clone();
        let total = XdsStats {
            responses_sent: cds.responses_sent + eds.responses_sent + lds.responses_sent,
            responses_acknowledged: cds.responses_acknowledged
                + eds.responses_acknowledged
                + lds.responses_acknowledged,
            responses_rejected: cds.responses_rejected
                + eds.responses_rejected
                + lds.responses_rejected,
            last_rejection: None,
        };
        XdsStatus {
            last_update_time: rfc3339(OffsetDateTime::now_utc()),
            total,
            cds,
            eds,
            lds,
            warnings: self.warnings.clone(),
        }
    }
}

/// Resolves at `at` (never without one).
async fn flush_due(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `<mesh>.<name>` split at the first dot.
fn node_id(id: &str) -> Result<(&str, &str), Status> {
    match id.split_once('.') {
        Some(("", _)) => Err(Status::unimplemented(
            "zone ingress configuration is not served by this control plane yet",
        )),
        Some((mesh, name)) if !name.is_empty() => Ok((mesh, name)),
        _ => Err(Status::invalid_argument(format!("node id {id:?} must be <mesh>.<name>"))),
    }
}

/// A string in node metadata under `key`, flat (`dataplane.resource`) or nested.
fn metadata_string(metadata: Option<&Struct>, key: &str) -> Option<String> {
    let metadata = metadata?;
    if let Some(value::Kind::StringValue(s)) =
        metadata.fields.get(key).and_then(|v| v.kind.as_ref())
    {
        return Some(s.clone());
    }
    let (head, rest) = key.split_once('.')?;
    match metadata.fields.get(head)?.kind.as_ref()? {
        value::Kind::StructValue(inner) => metadata_string(Some(inner), rest),
        _ => None,
    }
}
