//! The KDS services the global serves: `KDSSyncService` (both sync streams) and
//! `GlobalKDSService` (health check; the envoy-admin streams answer `Unimplemented`, which Kuma
//! zones tolerate).
//!
//! Every stream authenticates first, then runs in its own task until the zone goes away, the
//! global shuts down, or the zone's token stops being valid (checked again after every secret
//! change and at its expiry).

use std::collections::BTreeSet;
use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use kuma_core::resources::ResourceType;
use kuma_core::shutdown::Shutdown;
use proto::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DeltaDiscoveryResponse};
use proto::kuma::mesh::v1alpha1 as kds_pb;
use shared::kds::delta::{self, Publisher, Request as DeltaRequest, Subscriber};
use shared::kds::snapshots::Snapshots;
use shared::kds::sync::{self, GLOBAL_TO_ZONE, ZONE_TO_GLOBAL};
use store::{Event, Store};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Authenticator, Peer};
use crate::zones::{self, Subscription};

/// Responses queued per stream before the sender waits for the zone to read.
const STREAM_BUFFER: usize = 16;

type Outbound<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The KDS services; cheap to clone.
#[derive(Clone)]
pub struct KdsServer {
    pub(super) store: Store,
    pub(super) auth: Authenticator,
    pub(super) snapshots: Snapshots,
    pub(super) instance_id: String,
    pub(super) nack_backoff: Duration,
    pub(super) health_interval: Option<Duration>,
    pub(super) shutdown: Shutdown,
}

#[tonic::async_trait]
impl kds_pb::kds_sync_service_server::KdsSyncService for KdsServer {
    type GlobalToZoneSyncStream = Outbound<DeltaDiscoveryResponse>;
    type ZoneToGlobalSyncStream = Outbound<DeltaDiscoveryRequest>;

    async fn global_to_zone_sync(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::GlobalToZoneSyncStream>, Status> {
        let peer = self.auth.authenticate(&self.store, &request).await?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let this = self.clone();
        let inbound = request.into_inner();
        tokio::spawn(async move {
            let id = this.register(&peer).await;
            let end = this.global_to_zone(&peer, inbound, &tx).await;
            this.unregister(&peer, &id, "global-to-zone", end, &tx).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn zone_to_global_sync(
        &self,
        request: Request<Streaming<DeltaDiscoveryResponse>>,
    ) -> Result<Response<Self::ZoneToGlobalSyncStream>, Status> {
        let peer = self.auth.authenticate(&self.store, &request).await?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let this = self.clone();
        let inbound = request.into_inner();
        tokio::spawn(async move {
            let end = this.zone_to_global(&peer, inbound, &tx).await;
            match end {
                Err(status) if kuma_core::net::peer_went_away(&status) => {
                    tracing::info!(zone = %peer.zone, "zone disconnected from zone-to-global");
                }
                Err(status) => {
                    tracing::info!(zone = %peer.zone, %status, "zone-to-global stream ended");
                    let _ = tx.send(Err(status)).await;
                }
                Ok(()) => {}
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[tonic::async_trait]
impl kds_pb::global_kds_service_server::GlobalKdsService for KdsServer {
    type StreamXDSConfigsStream = Outbound<kds_pb::XdsConfigRequest>;
    type StreamStatsStream = Outbound<kds_pb::StatsRequest>;
    type StreamClustersStream = Outbound<kds_pb::ClustersRequest>;

    async fn stream_xds_configs(
        &self,
        _: Request<Streaming<kds_pb::XdsConfigResponse>>,
    ) -> Result<Response<Self::StreamXDSConfigsStream>, Status> {
        Err(Status::unimplemented("envoy admin forwarding is not supported"))
    }

    async fn stream_stats(
        &self,
        _: Request<Streaming<kds_pb::StatsResponse>>,
    ) -> Result<Response<Self::StreamStatsStream>, Status> {
        Err(Status::unimplemented("envoy admin forwarding is not supported"))
    }

    async fn stream_clusters(
        &self,
        _: Request<Streaming<kds_pb::ClustersResponse>>,
    ) -> Result<Response<Self::StreamClustersStream>, Status> {
        Err(Status::unimplemented("envoy admin forwarding is not supported"))
    }

    async fn health_check(
        &self,
        request: Request<kds_pb::ZoneHealthCheckRequest>,
    ) -> Result<Response<kds_pb::ZoneHealthCheckResponse>, Status> {
        let peer = self.auth.authenticate(&self.store, &request).await?;
        if let Err(err) =
            zones::health_checked(&self.store, &peer.zone, OffsetDateTime::now_utc()).await
        {
            tracing::warn!(zone = %peer.zone, error = %err, "could not record a health check");
        }
        let interval = self.health_interval.and_then(|d| prost_types::Duration::try_from(d).ok());
        Ok(Response::new(kds_pb::ZoneHealthCheckResponse { interval }))
    }
}

impl KdsServer {
    async fn register(&self, peer: &Peer) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let subscription = Subscription {
            id: id.clone(),
            global_instance_id: self.instance_id.clone(),
            connect_time: zones::rfc3339(OffsetDateTime::now_utc()),
            auth_token_provided: peer.token_provided,
            auth: if peer.token.is_some() { "zoneToken" } else { "none" }.to_owned(),
            version: peer
                .version
                .as_ref()
                .map(|v| serde_json::json!({ "kumaCp": { "version": v } })),
            ..Subscription::default()
        };
        let registered = async {
            zones::ensure_zone(&self.store, &peer.zone).await?;
            zones::connected(&self.store, &peer.zone, subscription).await
        };
        if let Err(err) = registered.await {
            tracing::warn!(zone = %peer.zone, error = %err, "could not record the zone's connection");
        }
        tracing::info!(zone = %peer.zone, source = %peer.source, "zone connected");
        self.auth.metrics.kds_zone_stream(1);
        id
    }

    async fn unregister(
        &self,
        peer: &Peer,
        id: &str,
        stream: &str,
        end: Result<(), Status>,
        tx: &mpsc::Sender<Result<DeltaDiscoveryResponse, Status>>,
    ) {
        match end {
            Ok(()) => tracing::info!(zone = %peer.zone, stream, "zone disconnected"),
            Err(status) if kuma_core::net::peer_went_away(&status) => {
                tracing::info!(zone = %peer.zone, stream, "zone disconnected");
            }
            Err(status) => {
                tracing::info!(zone = %peer.zone, stream, %status, "closing the zone's stream");
                let _ = tx.send(Err(status)).await;
            }
        }
        self.auth.metrics.kds_zone_stream(-1);
        if let Err(err) = zones::disconnected(&self.store, &peer.zone, id).await {
            tracing::warn!(zone = %peer.zone, error = %err, "could not record the zone's disconnection");
        }
    }

    /// Serves the zone's subscriptions and pushes every change of a subscribed type.
    async fn global_to_zone(
        &self,
        peer: &Peer,
        mut inbound: Streaming<DeltaDiscoveryRequest>,
        tx: &mpsc::Sender<Result<DeltaDiscoveryResponse, Status>>,
    ) -> Result<(), Status> {
        let mut changes = self.store.changes();
        let mut publisher = Publisher::new();
        let mut subscribed = BTreeSet::new();
        let mut shutdown = self.shutdown.clone();
        loop {
            tokio::select! {
                () = shutdown.wait() => return Err(shutting_down()),
                () = expiry(peer) => return Err(Status::unauthenticated("the zone token expired")),
                () = tx.closed() => return Ok(()),
                message = inbound.message() => {
                    let Some(request) = message? else { return Ok(()) };
                    match delta::classify(&request) {
                        DeltaRequest::Subscribe(kind) if GLOBAL_TO_ZONE.contains(&kind) => {
                            subscribed.insert(kind);
                            publisher.forget(&kind);
                            self.publish(peer, kind, &mut publisher, tx, true).await?;
                        }
                        DeltaRequest::Nack { kind, message } => {
                            tracing::warn!(zone = %peer.zone, %kind, %message, "config was previously rejected by other control plane. Applying backoff before resending it");
                            self.auth.metrics.kds_nack_received();
                            // Shutdown, the zone leaving and the token expiring end the wait.
                            tokio::select! {
                                () = shutdown.wait() => return Err(shutting_down()),
                                () = expiry(peer) => return Err(Status::unauthenticated("the zone token expired")),
                                () = tx.closed() => return Ok(()),
                                () = tokio::time::sleep(self.nack_backoff) => {}
                            }
                            publisher.forget(&kind);
                            self.publish(peer, kind, &mut publisher, tx, true).await?;
                        }
                        DeltaRequest::Ack(_) => {}
                        other => tracing::debug!(zone = %peer.zone, request = ?other, "ignoring a subscription to a type the global does not send"),
                    }
                }
                event = changes.recv() => {
                    let Some(event) = event else { return Ok(()) };
                    if is_secret_change(&event) {
                        self.auth.recheck(peer).await?;
                    }
                    let (kinds, fresh): (Vec<ResourceType>, bool) = match &event {
                        Event::Changed(change) => {
                            let written = change.resource_type();
                            let affected = written.into_iter().flat_map(sync::global_outgoing_affected_by);
                            (affected.filter(|k| subscribed.contains(k)).collect(), false)
                        }
                        Event::Resync => (subscribed.iter().copied().collect(), true),
                    };
                    for kind in kinds {
                        self.publish(peer, kind, &mut publisher, tx, fresh).await?;
                    }
                }
            }
        }
    }

    /// Sends the zone what it lacks of `kind`. The resources come from the cache every zone's
    /// stream shares; `fresh` lists them from the store again whatever its generations say.
    async fn publish(
        &self,
        peer: &Peer,
        kind: ResourceType,
        publisher: &mut Publisher,
        tx: &mpsc::Sender<Result<DeltaDiscoveryResponse, Status>>,
        fresh: bool,
    ) -> Result<(), Status> {
        let snapshot = self.snapshots.get(kind, fresh).await.map_err(|err| {
            tracing::error!(error = %err, "could not read resources to sync");
            Status::internal("internal error")
        })?;
        if let Some(response) = publisher.update_encoded(kind, snapshot.for_zone(&peer.zone)) {
            // A closed channel means the zone left; the select loop notices it.
            let _ = tx.send(Ok(response)).await;
        }
        Ok(())
    }

    /// Subscribes to the zone's resources and applies them.
    async fn zone_to_global(
        &self,
        peer: &Peer,
        mut inbound: Streaming<DeltaDiscoveryResponse>,
        tx: &mpsc::Sender<Result<DeltaDiscoveryRequest, Status>>,
    ) -> Result<(), Status> {
        let mut subscriber = Subscriber::new(delta::node(&peer.zone));
        for kind in ZONE_TO_GLOBAL {
            if tx.send(Ok(subscriber.subscribe(kind))).await.is_err() {
                return Ok(());
            }
        }
        let mut changes = self.store.changes();
        let mut shutdown = self.shutdown.clone();
        loop {
            tokio::select! {
                () = shutdown.wait() => return Err(shutting_down()),
                () = expiry(peer) => return Err(Status::unauthenticated("the zone token expired")),
                () = tx.closed() => return Ok(()),
                message = inbound.message() => {
                    let Some(response) = message? else { return Ok(()) };
                    let reply = match subscriber.receive(response) {
                        Ok(received) => {
                            let (kind, nonce) = (received.kind, received.nonce.clone());
                            match sync::apply_from_zone(&self.store, &peer.zone, kind, received.upserts, &received.removed, received.full_state).await {
                                Ok(applied) => {
                                    if !applied.refused.is_empty() {
                                        tracing::warn!(zone = %peer.zone, refused = ?applied.refused, "refused resources the zone does not own");
                                    }
                                    subscriber.ack(kind, &nonce)
                                }
                                Err(err) => {
                                    tracing::error!(zone = %peer.zone, error = %err, "could not apply the zone's resources");
                                    subscriber.nack(&delta::Rejected { type_url: kind.name().to_owned(), nonce, message: "the global could not store the resources; retrying".to_owned() })
                                }
                            }
                        }
                        Err(rejected) => {
                            tracing::warn!(zone = %peer.zone, message = %rejected.message, "NACK: the zone sent an invalid resource");
                            subscriber.nack(&rejected)
                        }
                    };
                    if tx.send(Ok(reply)).await.is_err() {
                        return Ok(());
                    }
                }
                event = changes.recv() => {
                    let Some(event) = event else { return Ok(()) };
                    if is_secret_change(&event) {
                        self.auth.recheck(peer).await?;
                    }
                }
            }
        }
    }
}

/// Token keys and revocation lists are (Global)Secrets; a resync may have changed them too.
fn is_secret_change(event: &Event) -> bool {
    event.touches(ResourceType::Secret) || event.touches(ResourceType::GlobalSecret)
}

fn shutting_down() -> Status {
    Status::unavailable("the global control plane is shutting down")
}

/// Resolves when the peer's token expires (never without a token).
async fn expiry(peer: &Peer) {
    match peer.expires {
        Some(at) => {
            let left = (at - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
            tokio::time::sleep(left.unsigned_abs()).await;
        }
        None => std::future::pending().await,
    }
}
