//! An accepted connection as tonic sees it: TLS or plain, with who is on the other end.
//!
//! tonic copies [`ConnInfo`] into every request's extensions, which is how services learn the
//! peer address (for logs and the audit) and its certificate chain. tonic's own
//! `Request::remote_addr()` does not know this type: read the extension instead.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use kuma_core::net::Io;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

use crate::limits::Permit;

/// An accepted connection whose peer the allowlist admitted and whose TLS handshake (if any)
/// finished.
#[derive(Debug)]
pub struct Conn {
    io: Io<TlsStream<TcpStream>>,
    info: ConnInfo,
    /// The peer's open-connection slot under the listener's limits, given back on close.
    _permit: Permit,
}

/// What a service may know about the connection a request came on: found in the request
/// extensions (`req.extensions().get::<ConnInfo>()`).
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The peer's address.
    pub remote_addr: SocketAddr,
    /// The listener's address the peer connected to.
    pub local_addr: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The client's certificate chain, leaf first, when it presented one.
    pub peer_certificates: Option<Arc<[CertificateDer<'static>]>>,
}

impl Conn {
    pub(super) fn plain(
        stream: TcpStream,
        remote_addr: SocketAddr,
        local_addr: SocketAddr,
        permit: Permit,
    ) -> Self {
        Self {
            io: Io::Plain(stream),
            info: ConnInfo { remote_addr, local_addr, tls: false, peer_certificates: None },
            _permit: permit,
        }
    }

    pub(super) fn tls(
        stream: TlsStream<TcpStream>,
        remote_addr: SocketAddr,
        local_addr: SocketAddr,
        permit: Permit,
    ) -> Self {
        let peer_certificates = stream.get_ref().1.peer_certificates().map(Arc::from);
        Self {
            io: Io::Tls(Box::new(stream)),
            info: ConnInfo { remote_addr, local_addr, tls: true, peer_certificates },
            _permit: permit,
        }
    }

    /// Who is on the other end.
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }
}

impl Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
