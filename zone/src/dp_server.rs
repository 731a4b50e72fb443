//! The zone's DP server (`KUMA_DP_SERVER_PORT`, always TLS, h2): data plane proxies open a
//! `kumars.dp.v1.DataplaneService/Session` stream, prove who they are with a dataplane token and
//! receive their mesh certificate for a CSR (see [`session`]). This module owns the listener and
//! the gRPC server; it does not generate CAs or signing keys (the runtime does when a mesh is
//! created) and never sees a proxy's private key. Each source address is held to
//! `KUMA_DP_SERVER_RATE_LIMIT_*` before TLS, and messages to `KUMA_DP_SERVER_MAX_MSG_SIZE`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryServiceServer;
use kuma_core::shutdown::Shutdown;
use proto::kumars::dp::v1::dataplane_service_server::DataplaneServiceServer;
use shared::config::{DpProxyAuthn, ZoneProxyAuthn};
use shared::limits::Limiter;
use shared::net::{self, ClientCerts, Listener, ServerTls};
use shared::runtime::{Runtime, tls_options};
use store::Store;

use crate::xds::Views;

mod ads;
mod auth;
mod dataplane;
mod dispatch;
mod ingress;
mod insight;
mod issue;
mod session;

use ads::{AdsService, Snapshots};
use auth::Authenticator;
use dispatch::Dispatcher;
use session::DpService;

/// gRPC keepalive towards proxies.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The bound DP server, not serving yet.
pub struct DpServer {
    listener: Listener,
    auth: Authenticator,
    max_msg_size: usize,
    /// How often ADS counters reach the DataplaneInsight.
    status_flush: Duration,
    /// The latest xDS snapshot of each proxy with an ADS stream.
    snapshots: Snapshots,
}

impl DpServer {
    /// Binds `KUMA_DP_SERVER_PORT` on every interface with the DP server certificate
    /// (`KUMA_DP_SERVER_TLS_CERT_FILE`/`_KEY_FILE`) or the CP certificate, either following its
    /// files.
    pub async fn bind(runtime: &Runtime) -> anyhow::Result<Self> {
        let config = &runtime.config().dp_server;
        let services = runtime.services();
        let enabled = config.dp_proxy_authn == DpProxyAuthn::DpToken;
        if !enabled {
            tracing::warn!(
                "KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE=none: data plane proxies are not \
                 authenticated and anyone who reaches the DP server may get any proxy's identity"
            );
        }
        let zone_proxies_enabled = config.zone_proxy_authn == ZoneProxyAuthn::ZoneToken;
        if !zone_proxies_enabled {
            tracing::warn!(
                "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE=none: zone ingresses are not authenticated \
                 and anyone who reaches the DP server may register one"
            );
        }
        let cert = runtime
            .server_cert(config.tls_files.as_ref())
            .context("loading the DP server certificate")?;
        let server_tls = ServerTls {
            cert,
            options: tls_options(&config.tls),
            alpn: net::ALPN_H2,
            client_certs: ClientCerts::None,
        };
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), config.port);
        let limiter = Limiter::new(
            "dp-server",
            config.rate_limit,
            services.metrics.clone(),
            services.audit.clone(),
        );
        let listener = Listener::builder("dp-server", addr)
            .limiter(limiter)
            .tls(server_tls)
            .bind(services.metrics.clone(), services.audit.clone())
            .await
            .with_context(|| format!("binding the DP server on {addr}"))?;
        let auth = Authenticator {
            enabled,
            zone_proxies_enabled,
            zone: runtime.config().multizone.zone.name.to_string(),
            credentials: services.credentials.clone(),
            metrics: services.metrics.clone(),
            audit: services.audit.clone(),
        };
        let max_msg_size = usize::try_from(config.max_msg_size).unwrap_or(usize::MAX);
        Ok(Self {
            listener,
            auth,
            max_msg_size,
            status_flush: config.xds_status_flush_interval,
            snapshots: Snapshots::default(),
        })
    }

    /// Where the DP server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// The REST routes of the DP server (`GET /meshes/{mesh}/dataplanes/{name}/xds`).
    pub fn api_routes<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        ads::routes(self.snapshots.clone())
    }

    /// Serves until `shutdown` fires.
    pub async fn serve(
        self,
        store: Store,
        instance_id: String,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        let dispatcher = Dispatcher::default();
        tokio::spawn(dispatcher.clone().run(store.clone(), shutdown.clone()));
        let insights = insight::Writer::spawn(store.clone());
        let views = Views::new(store.clone());
        tokio::spawn(views.clone().run(shutdown.clone()));
        let ads = AdsService {
            store: store.clone(),
            auth: self.auth.clone(),
            views,
            dispatcher: dispatcher.clone(),
            insights: insights.clone(),
            instance_id: instance_id.clone(),
            shutdown: shutdown.clone(),
            snapshots: self.snapshots,
            status_flush: self.status_flush,
        };
        let service = DpService {
            store,
            auth: self.auth,
            instance_id,
            dispatcher,
            insights,
            shutdown: shutdown.clone(),
        };
        let mut stop = shutdown.clone();
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE))
            .http2_keepalive_timeout(Some(KEEPALIVE))
            .add_service(
                DataplaneServiceServer::new(service)
                    .max_decoding_message_size(self.max_msg_size)
                    .max_encoding_message_size(self.max_msg_size),
            )
            .add_service(
                AggregatedDiscoveryServiceServer::new(ads)
                    .max_decoding_message_size(self.max_msg_size)
                    .max_encoding_message_size(self.max_msg_size),
            )
            .serve_with_incoming_shutdown(self.listener.incoming(shutdown), async move {
                stop.wait().await
            })
            .await
            .context("serving the DP server")
    }
}
