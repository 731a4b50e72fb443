//! The global's KDS endpoint: the listener (IP allowlist, then per-address limits, before TLS;
//! a certificate that follows its files; optional client certificates) and the gRPC services of
//! [`server`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use kuma_core::shutdown::Shutdown;
use proto::kuma::mesh::v1alpha1::global_kds_service_server::GlobalKdsServiceServer;
use proto::kuma::mesh::v1alpha1::kds_sync_service_server::KdsSyncServiceServer;
use shared::config::{CpConfig, KdsAuth};
use shared::kds::snapshots::Snapshots;
use shared::limits::Limiter;
use shared::net::{self, Allowlist, ClientCerts, Listener, ServerTls};
use shared::runtime::{Runtime, tls_options};
use tonic::codec::CompressionEncoding;

mod auth;
mod server;

use auth::Authenticator;
use server::KdsServer;

/// gRPC keepalive, as Kuma's KDS (15 s time and timeout).
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The bound KDS listener, not serving yet.
pub struct Kds {
    listener: Listener,
    auth: Authenticator,
    nack_backoff: Duration,
    health_interval: Option<Duration>,
    max_msg_size: usize,
}

impl Kds {
    /// Binds `KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT` with the configured TLS and allowlist.
    pub async fn bind(runtime: &Runtime) -> anyhow::Result<Self> {
        let config: &CpConfig = runtime.config();
        let kds = &config.multizone.global;
        let services = runtime.services();
        let allowlist = Allowlist::new(kds.allowed_cidrs.clone());
        if allowlist.is_open() {
            tracing::warn!(
                "KUMA_MULTIZONE_GLOBAL_KDS_ALLOWED_CIDRS is empty: any address may reach KDS; \
                 list the zones' networks to refuse everyone else before TLS"
            );
        }
        if kds.auth == KdsAuth::None {
            tracing::warn!(
                "KUMA_MULTIZONE_GLOBAL_KDS_AUTH_TYPE=none: zones are not authenticated and any \
                 peer that reaches KDS may claim any zone name"
            );
        }
        let server_tls = match kds.tls_enabled {
            false => {
                tracing::warn!(
                    "KDS serves plaintext gRPC (KUMA_MULTIZONE_GLOBAL_KDS_TLS_ENABLED=false)"
                );
                None
            }
            true => {
                let cert = runtime
                    .server_cert(kds.tls_files.as_ref())
                    .context("loading the KDS certificate")?;
                let client_certs = match &kds.client_ca_file {
                    Some(path) => ClientCerts::Optional(
                        std::fs::read_to_string(path)
                            .with_context(|| format!("reading {}", path.display()))?,
                    ),
                    None => ClientCerts::None,
                };
                let options = tls_options(&kds.tls);
                Some(ServerTls { cert, options, alpn: net::ALPN_H2, client_certs })
            }
        };
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), kds.grpc_port);
        let limiter =
            Limiter::new("kds", kds.rate_limit, services.metrics.clone(), services.audit.clone());
        let mut builder = Listener::builder("kds", addr).allowlist(allowlist).limiter(limiter);
        if let Some(tls) = server_tls {
            builder = builder.tls(tls);
        }
        let listener = builder
            .bind(services.metrics.clone(), services.audit.clone())
            .await
            .with_context(|| format!("binding the KDS server on {addr}"))?;
        let auth = Authenticator {
            mode: kds.auth,
            require_client_cert: kds.client_ca_file.is_some(),
            credentials: services.credentials.clone(),
            metrics: services.metrics.clone(),
            audit: services.audit.clone(),
        };
        Ok(Self {
            listener,
            auth,
            nack_backoff: kds.nack_backoff,
            health_interval: kds.zone_health_check.as_ref().map(|h| h.poll_interval),
            max_msg_size: usize::try_from(kds.max_msg_size).unwrap_or(usize::MAX),
        })
    }

    /// Where KDS listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Serves KDS until `shutdown` fires.
    pub async fn serve(
        self,
        runtime_store: store::Store,
        instance_id: String,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        let server = KdsServer {
            snapshots: Snapshots::new(runtime_store.clone()),
            store: runtime_store,
            auth: self.auth,
            instance_id,
            nack_backoff: self.nack_backoff,
            health_interval: self.health_interval,
            shutdown: shutdown.clone(),
        };
        let sync = KdsSyncServiceServer::new(server.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(self.max_msg_size)
            .max_encoding_message_size(self.max_msg_size);
        let global = GlobalKdsServiceServer::new(server)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(self.max_msg_size)
            .max_encoding_message_size(self.max_msg_size);
        let mut stop = shutdown.clone();
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE))
            .http2_keepalive_timeout(Some(KEEPALIVE))
            .add_service(sync)
            .add_service(global)
            .serve_with_incoming_shutdown(self.listener.incoming(shutdown), async move {
                stop.wait().await
            })
            .await
            .context("serving KDS")
    }
}
