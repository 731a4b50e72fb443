//! One zone ↔ global session at a time: `GlobalToZoneSync` (we subscribe and apply) and
//! `ZoneToGlobalSync` (we publish), plus health check pings. A session ends on any error; the
//! loop in [`KdsClient::run`] records why (wrong CA, refused by the allowlist, rejected token…),
//! backs off with jitter and tries again.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use kuma_core::net::{self, Backoff, ChannelSettings};
use kuma_core::resources::ResourceType;
use kuma_core::shutdown::Shutdown;
use proto::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DeltaDiscoveryResponse};
use proto::kuma::mesh::v1alpha1::ZoneHealthCheckRequest;
use proto::kuma::mesh::v1alpha1::global_kds_service_client::GlobalKdsServiceClient;
use proto::kuma::mesh::v1alpha1::kds_sync_service_client::KdsSyncServiceClient;
use secrecy::{ExposeSecret, SecretString};
use shared::config::{CpConfig, CpToken};
use shared::kds::delta::{self, Publisher, Request as DeltaRequest, Subscriber};
use shared::kds::status::KdsStatus;
use shared::kds::sync::{self, GLOBAL_TO_ZONE, ZONE_TO_GLOBAL};
use store::{Event, Store};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Messages queued per outbound stream.
const STREAM_BUFFER: usize = 16;
/// A session that lasted this long resets the backoff.
const STABLE_SESSION: Duration = Duration::from_secs(30);
/// Kuma pings every 5 minutes until the global says otherwise.
const DEFAULT_PING: Duration = Duration::from_secs(300);

/// The zone's KDS client.
pub struct KdsClient {
    store: Store,
    status: KdsStatus,
    zone: String,
    address: String,
    channel: ChannelSettings,
    token: Option<TokenSource>,
    base_backoff: Duration,
    max_backoff: Duration,
    max_msg_size: usize,
}

enum TokenSource {
    Path(PathBuf),
    Inline(SecretString),
}

impl KdsClient {
    /// A client for the federated zone described by `config`; `None` for a zone without a
    /// global address.
    pub fn new(config: &CpConfig, store: Store, status: KdsStatus) -> anyhow::Result<Option<Self>> {
        let zone = &config.multizone.zone;
        let Some(address) = &zone.global_address else { return Ok(None) };
        let identity = match &zone.client_tls {
            Some(files) => Some(
                kuma_core::tls::load_pair(&files.cert, &files.key)
                    .context("loading the zone's KDS client certificate")?,
            ),
            None => None,
        };
        if zone.tls_skip_verify {
            tracing::warn!(
                "KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY=true: the global's certificate is NOT \
                 verified; anyone on the path can impersonate the global"
            );
        }
        let token = match &zone.cp_token {
            Some(CpToken::Path(path)) => Some(TokenSource::Path(path.clone())),
            Some(CpToken::Inline(token)) => Some(TokenSource::Inline(token.clone())),
            None => {
                tracing::warn!(
                    "no zone token configured (KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH or \
                     _INLINE): a global that authenticates zones will refuse this one"
                );
                None
            }
        };
        Ok(Some(Self {
            store,
            status,
            zone: zone.name.as_str().to_owned(),
            address: address.url().to_owned(),
            channel: ChannelSettings {
                address: address.url().to_owned(),
                root_ca: zone.root_ca_file.clone(),
                skip_verify: zone.tls_skip_verify,
                identity,
                local_ip: None,
            },
            token,
            base_backoff: config.general.resilient_component_base_backoff,
            max_backoff: config.general.resilient_component_max_backoff,
            max_msg_size: usize::try_from(zone.max_msg_size).unwrap_or(usize::MAX),
        }))
    }

    /// Keeps a session with the global until `shutdown`, reconnecting with backoff.
    pub async fn run(self, mut shutdown: Shutdown) {
        let mut backoff = Backoff::new(self.base_backoff, self.max_backoff);
        loop {
            self.status.set("connecting", &self.address, None);
            let started = Instant::now();
            let ended = tokio::select! {
                () = shutdown.wait() => return,
                ended = self.session() => ended,
            };
            let err = match ended {
                Ok(()) => anyhow!("the global closed the connection"),
                Err(err) => err,
            };
            let why = format!("{err:#}");
            tracing::warn!(global = %self.address, error = %why, "not connected to the global control plane");
            self.status.set("disconnected", &self.address, Some(why));
            if started.elapsed() >= STABLE_SESSION {
                backoff.reset();
            }
            let delay = backoff.next_delay();
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn session(&self) -> anyhow::Result<()> {
        let channel = net::connect(&self.channel).await.context("connecting to the global")?;
        let metadata = self.metadata()?;
        let stamp = Stamp(metadata);
        let channel = net::grpc_only(channel);
        let mut sync = KdsSyncServiceClient::with_interceptor(channel.clone(), stamp.clone())
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(self.max_msg_size)
            .max_encoding_message_size(self.max_msg_size);
        let mut health = GlobalKdsServiceClient::with_interceptor(channel, stamp);

        let mut subscriber = Subscriber::new(delta::node(&self.zone));
        let (requests, requests_rx) = mpsc::channel::<DeltaDiscoveryRequest>(STREAM_BUFFER);
        for kind in GLOBAL_TO_ZONE {
            requests.send(subscriber.subscribe(kind)).await.context("queueing a subscription")?;
        }
        let mut from_global = sync
            .global_to_zone_sync(ReceiverStream::new(requests_rx))
            .await
            .map_err(explain)
            .context("opening GlobalToZoneSync")?
            .into_inner();
        let (responses, responses_rx) = mpsc::channel::<DeltaDiscoveryResponse>(STREAM_BUFFER);
        let mut to_global = sync
            .zone_to_global_sync(ReceiverStream::new(responses_rx))
            .await
            .map_err(explain)
            .context("opening ZoneToGlobalSync")?
            .into_inner();
        self.status.set("connected", &self.address, None);
        tracing::info!(global = %self.address, zone = %self.zone, "connected to the global control plane");

        let mut publisher = Publisher::new();
        let mut subscribed = BTreeSet::new();
        let mut changes = self.store.changes();
        let mut ping = tokio::time::interval(DEFAULT_PING);
        loop {
            tokio::select! {
                message = from_global.message() => {
                    let Some(response) = message.map_err(explain)? else { bail!("the global ended GlobalToZoneSync") };
                    let reply = self.apply(&mut subscriber, response).await;
                    requests.send(reply).await.context("the global stopped reading")?;
                }
                message = to_global.message() => {
                    let Some(request) = message.map_err(explain)? else { bail!("the global ended ZoneToGlobalSync") };
                    match delta::classify(&request) {
                        DeltaRequest::Subscribe(kind) if ZONE_TO_GLOBAL.contains(&kind) => {
                            subscribed.insert(kind);
                            publisher.forget(&kind);
                            self.publish(kind, &mut publisher, &responses).await?;
                        }
                        DeltaRequest::Nack { kind, message } => {
                            tracing::warn!(%kind, %message, "the global rejected our resources; resending after backoff");
                            // The session runs inside a select on shutdown, which drops this wait.
                            tokio::time::sleep(self.base_backoff).await;
                            publisher.forget(&kind);
                            self.publish(kind, &mut publisher, &responses).await?;
                        }
                        _ => {}
                    }
                }
                event = changes.recv() => {
                    let kinds: Vec<ResourceType> = match event {
                        Some(Event::Changed(change)) => change.resource_type().filter(|k| subscribed.contains(k)).into_iter().collect(),
                        Some(Event::Resync) => subscribed.iter().copied().collect(),
                        None => return Ok(()),
                    };
                    for kind in kinds {
                        self.publish(kind, &mut publisher, &responses).await?;
                    }
                }
                _ = ping.tick() => {
                    match health.health_check(ZoneHealthCheckRequest {}).await {
                        Ok(answer) => {
                            let interval = answer.into_inner().interval.and_then(|d| Duration::try_from(d).ok());
                            if let Some(interval) = interval.filter(|d| !d.is_zero()) {
                                ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
                            }
                        }
                        Err(status) if status.code() == tonic::Code::Unimplemented => {
                            ping = tokio::time::interval(Duration::from_secs(u64::from(u32::MAX)));
                        }
                        Err(status) => return Err(explain(status)).context("health check"),
                    }
                }
            }
        }
    }

    /// Applies one response of the global and returns the ACK or NACK to send.
    async fn apply(
        &self,
        subscriber: &mut Subscriber,
        response: DeltaDiscoveryResponse,
    ) -> DeltaDiscoveryRequest {
        let received = match subscriber.receive(response) {
            Ok(received) => received,
            Err(rejected) => {
                tracing::warn!(message = %rejected.message, "NACK: the global sent an invalid resource");
                return subscriber.nack(&rejected);
            }
        };
        let (kind, nonce) = (received.kind, received.nonce.clone());
        match sync::apply_from_global(
            &self.store,
            kind,
            received.upserts,
            &received.removed,
            received.full_state,
        )
        .await
        {
            Ok(applied) => {
                if !applied.refused.is_empty() {
                    tracing::info!(%kind, kept = ?applied.refused, "kept local resources the global also has");
                }
                subscriber.ack(kind, &nonce)
            }
            Err(err) => {
                tracing::error!(%kind, error = %err, "could not apply the global's resources");
                let rejected = delta::Rejected {
                    type_url: kind.name().to_owned(),
                    nonce,
                    message: "the zone could not store the resources; retrying".to_owned(),
                };
                subscriber.nack(&rejected)
            }
        }
    }

    async fn publish(
        &self,
        kind: ResourceType,
        publisher: &mut Publisher,
        responses: &mpsc::Sender<DeltaDiscoveryResponse>,
    ) -> anyhow::Result<()> {
        let items = sync::zone_outgoing(&self.store, kind, &self.zone)
            .await
            .context("reading resources to sync")?;
        if let Some(response) = publisher.update(kind, &items) {
            responses.send(response).await.context("the global stopped reading")?;
        }
        Ok(())
    }

    /// The metadata Kuma zones send on every call, plus our zone token.
    fn metadata(&self) -> anyhow::Result<MetadataMap> {
        let mut map = MetadataMap::new();
        map.insert("client-id", MetadataValue::try_from(self.zone.as_str())?);
        map.insert("kds-version", MetadataValue::from_static("v3"));
        map.append("features", MetadataValue::from_static("zone-ping-health"));
        map.append("features", MetadataValue::from_static("hash-suffix"));
        map.insert("version", MetadataValue::try_from(env!("CARGO_PKG_VERSION"))?);
        if let Some(token) = self.read_token()? {
            map.insert("authorization", MetadataValue::try_from(format!("Bearer {token}"))?);
        }
        Ok(map)
    }

    /// The token, re-read from its file on every connection (rotated tokens are picked up).
    fn read_token(&self) -> anyhow::Result<Option<String>> {
        let token = match &self.token {
            None => return Ok(None),
            Some(TokenSource::Inline(token)) => token.expose_secret().trim().to_owned(),
            Some(TokenSource::Path(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the zone token {}", path.display()))?
                .trim()
                .to_owned(),
        };
        if token.is_empty() {
            bail!("the zone token is empty");
        }
        Ok(Some(token))
    }
}

/// Adds the zone's metadata to every call.
#[derive(Clone)]
struct Stamp(MetadataMap);

impl Interceptor for Stamp {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        for entry in self.0.iter() {
            if let tonic::metadata::KeyAndValueRef::Ascii(key, value) = entry {
                request.metadata_mut().append(key.clone(), value.clone());
            }
        }
        Ok(request)
    }
}

/// Turns a gRPC status from the global into an error that says what to fix.
fn explain(status: Status) -> anyhow::Error {
    if let Some(not_grpc) = net::not_grpc(&status) {
        return anyhow!(
            "this address does not serve KDS ({not_grpc}): is it the global's KDS port (5685, \
             KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT)?"
        );
    }
    let hint = match status.code() {
        tonic::Code::Unauthenticated => "the global refused this zone's credentials",
        tonic::Code::PermissionDenied => "the global refused this zone",
        tonic::Code::Unavailable => "the global is unavailable",
        // A gRPC server without KDS (the DP server's port, say).
        tonic::Code::Unimplemented => {
            "this address does not serve KDS: is it the global's KDS port (5685, \
             KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT)?"
        }
        _ => "KDS call failed",
    };
    anyhow!("{hint}: {} ({:?})", status.message(), status.code())
}
