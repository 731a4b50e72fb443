//! The one listener every server of the control plane binds (the API over HTTP and HTTPS,
//! diagnostics, KDS, the DP server, MADS): built with [`Listener::builder`], it filters peers by
//! address before TLS, holds each address to its limits, does the TLS handshake with a
//! certificate that follows its files ([`ServerCert`]), and hands finished connections to tonic
//! or to the HTTP server (`api::serve`).
//!
//! The accept loop checks the allowlist first: a refused peer's socket is reset at once, before
//! anything is read from it, so it never sees a TLS byte (not even a certificate). Then the
//! per-address limits (`shared::limits`): a peer over its connection rate or its open-connection
//! cap is reset the same way, and an admitted connection holds its slot until it closes. Admitted
//! peers get their handshake in a task of their own with a deadline, so a slow peer cannot stall
//! the loop. This file must not know what is served: tonic does that with
//! `Server::builder().serve_with_incoming_shutdown(listener.incoming(shutdown), ...)`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures::Stream;
use kuma_core::shutdown::Shutdown;
use kuma_core::tls::{ClientAuth, ServerTlsOptions, reloading_server_config};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::{Allowlist, Conn, Error, ServerCert};
use crate::audit::{AuditLog, Event};
use crate::limits::{Limiter, Permit};
use crate::metrics::Metrics;

/// How long an allowed peer has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// ALPN of a gRPC-only listener (KDS).
pub const ALPN_H2: &[&[u8]] = &[b"h2"];
/// ALPN of a listener serving gRPC and HTTP/1.1 on one port (the DP server's `/bootstrap`).
pub const ALPN_H2_HTTP1: &[&[u8]] = &[b"h2", b"http/1.1"];

/// Connections the kernel may hold completed before they are accepted (it caps this at
/// `net.core.somaxconn`). Tokio's default of 1,024 overflows when thousands of proxies reconnect
/// at once after a restart; each dropped handshake costs its client a SYN retransmit (1 s, then
/// 3 s, 7 s...), which dominated the reconnect storm of 10,000 proxies.
const BACKLOG: u32 = 16_384;
/// At most one log and audit line per listener per this interval for refused peers.
const REFUSAL_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Pause after an accept error that is not about one connection (e.g. out of file descriptors),
/// so the loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Finished connections waiting for tonic to pick them up.
const QUEUE: usize = 64;

/// TLS settings of a listener.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The certificate presented, following its files.
    pub cert: ServerCert,
    /// Versions and cipher suites.
    pub options: ServerTlsOptions,
    /// ALPN protocols offered: [`ALPN_H2`] or [`ALPN_H2_HTTP1`].
    pub alpn: &'static [&'static [u8]],
    /// Whether clients are asked for certificates, and what they must chain to.
    pub client_certs: ClientCerts,
}

/// Whether a listener asks clients for certificates. A certificate a client sends must chain to
/// the PEM roots given; services find the chain in [`super::ConnInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientCerts {
    /// None is asked for (Kuma's KDS without a client CA, the DP server, MADS).
    #[default]
    None,
    /// A client may send one.
    Optional(String),
    /// A client must send one (`KUMA_API_SERVER_HTTPS_REQUIRE_CLIENT_CERT`).
    Required(String),
}

/// What a listener is made of, before it is bound; from [`Listener::builder`].
#[derive(Debug)]
pub struct ListenerBuilder {
    name: &'static str,
    addr: SocketAddr,
    allowlist: Allowlist,
    limiter: Limiter,
    tls: Option<ServerTls>,
    handshake_timeout: Duration,
}

/// A bound listener; [`incoming`](Self::incoming) starts accepting.
pub struct Listener {
    listener: TcpListener,
    local_addr: SocketAddr,
    name: &'static str,
    allowlist: Allowlist,
    acceptor: Option<TlsAcceptor>,
    handshake_timeout: Duration,
    limiter: Limiter,
    metrics: Metrics,
    audit: AuditLog,
    /// Keeps the certificate files watched while the listener lives.
    _cert: Option<ServerCert>,
}

/// Rate limit of the log and audit lines about refused peers (the metric counts every one).
#[derive(Debug)]
struct Refusals {
    listener: &'static str,
    last_report: Option<Instant>,
    suppressed: u64,
}

impl ListenerBuilder {
    /// Admits peers from these networks only (an empty list admits everyone, the default).
    pub fn allowlist(mut self, allowlist: Allowlist) -> Self {
        self.allowlist = allowlist;
        self
    }

    /// Holds each source address to `limiter` (after the allowlist, before TLS); by default
    /// every allowed peer is admitted.
    pub fn limiter(mut self, limiter: Limiter) -> Self {
        self.limiter = limiter;
        self
    }

    /// Serves TLS; without it the listener serves plaintext (the API's HTTP port, diagnostics
    /// and MADS without TLS, KDS with `KUMA_MULTIZONE_GLOBAL_KDS_TLS_ENABLED=false`).
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Replaces [`HANDSHAKE_TIMEOUT`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Builds the TLS configuration and binds the address (port 0 picks a free port). Refusals
    /// and failed handshakes are counted in `metrics` and recorded in `audit`.
    pub async fn bind(self, metrics: Metrics, audit: AuditLog) -> Result<Listener, Error> {
        let name = self.name;
        let (acceptor, cert) = match self.tls {
            Some(tls) => {
                let client_auth = match &tls.client_certs {
                    ClientCerts::None => ClientAuth::None,
                    ClientCerts::Optional(pem) => ClientAuth::Optional(pem.as_bytes()),
                    ClientCerts::Required(pem) => ClientAuth::Required(pem.as_bytes()),
                };
                let config = reloading_server_config(
                    tls.cert.current(),
                    &tls.options,
                    client_auth,
                    tls.alpn,
                )
                .map_err(|source| Error::Tls { listener: name, source: Box::new(source) })?;
                (Some(TlsAcceptor::from(config)), Some(tls.cert))
            }
            None => (None, None),
        };
        let addr = self.addr;
        let bind_err = |source| Error::Bind { addr, source };
        let listener = listen(addr).map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        Ok(Listener {
            listener,
            local_addr,
            name,
            allowlist: self.allowlist,
            acceptor,
            handshake_timeout: self.handshake_timeout,
            limiter: self.limiter,
            metrics,
            audit,
            _cert: cert,
        })
    }
}

impl Listener {
    /// A listener named `name` (it labels metrics, logs and audit lines: `kds`, `dp-server`,
    /// `api-https`...) on `addr`: no allowlist, no limits, plaintext until configured.
    pub fn builder(name: &'static str, addr: SocketAddr) -> ListenerBuilder {
        ListenerBuilder {
            name,
            addr,
            allowlist: Allowlist::default(),
            limiter: Limiter::off(),
            tls: None,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }

    /// The listener's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The bound address, with the port the system picked.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts accepting in a background task and returns the admitted, handshaken connections.
    ///
    /// The task stops, closing the listening socket, when `shutdown` fires or the stream is
    /// dropped. The stream never yields an error: failed handshakes are logged, counted and
    /// dropped here, because tonic would otherwise treat them as fatal to the whole server.
    pub fn incoming(self, shutdown: Shutdown) -> impl Stream<Item = io::Result<Conn>> + Send {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(self.accept_loop(tx, shutdown));
        ReceiverStream::new(rx).map(Ok)
    }

    async fn accept_loop(self, tx: mpsc::Sender<Conn>, mut shutdown: Shutdown) {
        let mut refusals = Refusals::new(self.name);
        loop {
            let accepted = tokio::select! {
                () = shutdown.wait() => break,
                () = tx.closed() => break,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(listener = self.name, %err, "accepting a connection failed");
                    if !is_connection_error(&err) {
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                    continue;
                }
            };
            if !self.allowlist.allows(peer.ip()) {
                // A reset rather than a FIN: the peer learns at once, and nothing lingers here.
                let _ = stream.set_zero_linger();
                drop(stream);
                self.metrics.connection_refused(self.name);
                refusals.report(peer, &self.audit, Instant::now());
                continue;
            }
            // The limiter logs, counts and audits its own refusals.
            let Ok(permit) = self.limiter.admit(peer.ip()) else {
                let _ = stream.set_zero_linger();
                drop(stream);
                continue;
            };
            // Only a latency tweak; a socket the peer already closed fails later anyway.
            let _ = stream.set_nodelay(true);
            tokio::spawn(self.handshake(stream, peer, permit, tx.clone()));
        }
        tracing::debug!(listener = self.name, addr = %self.local_addr, "listener stopped");
    }

    fn handshake(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        permit: Permit,
        tx: mpsc::Sender<Conn>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let acceptor = self.acceptor.clone();
        let (name, local_addr, timeout) = (self.name, self.local_addr, self.handshake_timeout);
        let metrics = self.metrics.clone();
        async move {
            let conn = match acceptor {
                None => Conn::plain(stream, peer, local_addr, permit),
                Some(acceptor) => {
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => Conn::tls(tls, peer, local_addr, permit),
                        Ok(Err(err)) => {
                            tracing::debug!(listener = name, %peer, %err, "TLS handshake failed");
                            metrics.tls_handshake_failed(name);
                            return;
                        }
                        Err(_elapsed) => {
                            tracing::debug!(listener = name, %peer, "TLS handshake timed out");
                            metrics.tls_handshake_failed(name);
                            return;
                        }
                    }
                }
            };
            // A closed queue means the server stopped; the connection just goes away.
            let _ = tx.send(conn).await;
        }
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("name", &self.name)
            .field("local_addr", &self.local_addr)
            .field("allowlist", &self.allowlist)
            .field("tls", &self.acceptor.is_some())
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

/// Errors that concern one connection only, after which accepting again is fine at once.
/// Binds `addr` (with `SO_REUSEADDR`, as `TcpListener::bind` does) and listens with [`BACKLOG`].
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

impl Refusals {
    fn new(listener: &'static str) -> Self {
        Self { listener, last_report: None, suppressed: 0 }
    }

    /// Logs and audits `peer`, unless a line went out less than the interval before `now`.
    fn report(&mut self, peer: SocketAddr, audit: &AuditLog, now: Instant) {
        if self.last_report.is_some_and(|last| now.duration_since(last) < REFUSAL_REPORT_INTERVAL) {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(
            listener = self.listener,
            %peer,
            suppressed = self.suppressed,
            "connection refused: address not in the allowlist"
        );
        audit.record(Event::ConnectionRefused {
            listener: self.listener,
            source: peer.to_string(),
            suppressed: self.suppressed,
        });
        self.last_report = Some(now);
        self.suppressed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_reported_at_most_once_per_interval_with_the_suppressed_count() {
        let audit = AuditLog::memory();
        let mut refusals = Refusals::new("kds");
        let start = Instant::now();
        let peer = |port| SocketAddr::from(([192, 0, 2, 1], port));
        refusals.report(peer(1), &audit, start);
        refusals.report(peer(2), &audit, start + Duration::from_millis(10));
        refusals.report(peer(3), &audit, start + Duration::from_millis(999));
        refusals.report(peer(4), &audit, start + Duration::from_millis(1000));
        refusals.report(peer(5), &audit, start + Duration::from_millis(1500));
        let lines = audit.recorded();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["event"], "connectionRefused");
        assert_eq!(lines[0]["listener"], "kds");
        assert_eq!(lines[0]["source"], "192.0.2.1:1");
        assert_eq!(lines[0]["suppressed"], 0);
        assert_eq!(lines[1]["source"], "192.0.2.1:4");
        assert_eq!(lines[1]["suppressed"], 2);
    }
}
