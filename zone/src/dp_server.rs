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
use kuma_core::tls::{self, ReloadingCert};
use proto::kumars::dp::v1::dataplane_service_server::DataplaneServiceServer;
use shared::config::{DpProxyAuthn, ZoneProxyAuthn};
use shared::limits::Limiter;
use shared::net::{self, Allowlist, ServerTls, TlsListener, WatchHandle};
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
    listener: TlsListener,
    auth: Authenticator,
    max_msg_size: usize,
    /// How often ADS counters reach the DataplaneInsight.
    status_flush: Duration,
    /// The latest xDS snapshot of each proxy with an ADS stream.
    snapshots: Snapshots,
    /// Keeps the certificate files watched while the listener lives.
    _watch: Option<WatchHandle>,
}

impl DpServer {
    /// Binds `KUMA_DP_SERVER_PORT` on every interface with the DP server certificate
    /// (`KUMA_DP_SERVER_TLS_CERT_FILE`/`_KEY_FILE`, watched for changes) or the CP certificate.
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
        let pair = match &config.tls_files {
            Some(files) => tls::load_pair(&files.cert, &files.key)
                .context("loading the DP server certificate")?,
            None => runtime.cp_cert().clone(),
        };
        let cert = ReloadingCert::new(&pair).context("loading the DP server certificate")?;
        let watch = match &config.tls_files {
            Some(files) => Some(
                net::watch_cert_files(files.cert.clone(), files.key.clone(), cert.clone())
                    .context("watching the DP server certificate files")?,
            ),
            None => None,
        };
        let server_tls = ServerTls {
            cert,
            options: tls_options(&config.tls),
            alpn: net::ALPN_H2,
            client_ca: None,
        };
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), config.port);
        let listener = TlsListener::bind(
            addr,
            "dp-server",
            Allowlist::new(Vec::new()),
            Some(server_tls),
            services.metrics.clone(),
            services.audit.clone(),
        )
        .await
        .with_context(|| format!("binding the DP server on {addr}"))?
        .with_limiter(Limiter::new(
            "dp-server",
            config.rate_limit,
            services.metrics.clone(),
            services.audit.clone(),
        ));
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
            _watch: watch,
        })
    }

    /// Where the DP server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// The REST routes of the DP server (`GET /meshes/{mesh}/dataplanes/{name}/xds`).
    pub fn api_routes(&self) -> axum::Router {
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
