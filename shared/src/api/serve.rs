//! Serving an axum router on a [`Listener`], with timeouts and graceful shutdown.
//!
//! The listener does the accepting, the address checks and the TLS handshake (with a certificate
//! that follows its files), so the API, diagnostics and MADS share that path with KDS and the DP
//! server; this file serves HTTP/1.1 and HTTP/2 on the connections it hands over, with a
//! header-read timeout per connection (Kuma's `*_READ_HEADER_TIMEOUT`).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use kuma_core::shutdown::Shutdown;
use tower::ServiceExt;

use crate::net::Listener;

/// How long in-flight requests get to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Present on requests whose TLS connection carried a client certificate that verified against
/// the listener's client CA (`KUMA_API_SERVER_HTTPS_TLS_CA_FILE`). Such callers are admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedClientCert;

/// Connection-level limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Time allowed to receive a request's headers.
    pub read_header_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` fires, then drains open connections.
pub async fn serve(listener: Listener, router: Router, limits: ConnLimits, shutdown: Shutdown) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.read_header_timeout);
    let name = listener.name();
    // The stream ends when `shutdown` fires: the listener stops accepting.
    let mut incoming = std::pin::pin!(listener.incoming(shutdown));
    while let Some(Ok(conn)) = incoming.next().await {
        let info = conn.info().clone();
        // rustls only keeps a client certificate that verified against the client CA.
        let client_cert = info.peer_certificates.is_some();
        let service = connection_service(router.clone(), info.remote_addr, client_cert);
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(conn), service);
        let watched = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(err) = watched.await {
                tracing::debug!(listener = name, peer = %info.remote_addr, %err, "connection closed with an error");
            }
        });
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            listener = name,
            "connections still open after the drain timeout; closing them"
        );
    }
}

/// The router as a hyper service that tells handlers who the peer is.
fn connection_service(
    router: Router,
    peer: SocketAddr,
    client_cert: bool,
) -> TowerToHyperService<
    impl tower::Service<
        axum::http::Request<Incoming>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone,
> {
    let svc = router.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        if client_cert {
            req.extensions_mut().insert(VerifiedClientCert);
        }
        req
    });
    TowerToHyperService::new(svc)
}
