//! The client side: a tonic channel whose TCP and TLS are done here, with errors that say why a
//! connection failed.
//!
//! [`connect`] dials once itself, so a failure comes back as a [`ConnectError`] naming the cause
//! (an untrusted certificate, a peer that closed on us, no route), then hands that connection to
//! tonic; later reconnections go through the same dialer. It must not know what is spoken over
//! the channel, nor retry: the caller's reconnect loop owns [`super::Backoff`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::transport::{Channel, Endpoint};

use super::Io;
use crate::tls::{
    self, CertPair, client_config, client_config_with_identity, dangerous_unverified_client_config,
};

/// HTTP/2 keepalive interval and timeout, as Kuma's KDS client (15 s each).
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Deadline of the TCP connect, and separately of the TLS handshake.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    /// `grpcs://host:port` (TLS) or `grpc://host:port` (plaintext).
    pub address: String,
    /// PEM roots that must have issued the server's certificate; `None` uses the Mozilla roots.
    pub root_ca: Option<PathBuf>,
    /// Accept any server certificate (`KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY`).
    pub skip_verify: bool,
    /// A client certificate for servers that ask for one.
    pub identity: Option<CertPair>,
    /// The local address to connect from; `None` lets the system choose.
    pub local_ip: Option<IpAddr>,
}

/// Why [`connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address is not `grpc(s)://host:port`.
    #[error("invalid address {address:?}: expected grpcs://host:port or grpc://host:port")]
    Address {
        /// The address as given.
        address: String,
    },
    /// The root CA could not be read or the TLS configuration could not be built.
    #[error("building the TLS configuration for {address}")]
    Tls {
        /// The server address.
        address: String,
        /// What `kuma_core::tls` found.
        #[source]
        source: Box<tls::Error>,
    },
    /// The name did not resolve, the TCP connect failed or timed out (nobody listening, no route).
    #[error("{address} is unreachable")]
    Unreachable {
        /// The server address.
        address: String,
        /// The resolver or socket error.
        #[source]
        source: io::Error,
    },
    /// The server closed or reset the connection before the TLS handshake completed: what an
    /// address allowlist does to a peer it does not admit.
    #[error("{address} closed the connection before the TLS handshake completed")]
    Refused {
        /// The server address.
        address: String,
        /// The reset or end of stream.
        #[source]
        source: io::Error,
    },
    /// The server's certificate did not verify against the root CA.
    #[error("the certificate of {address} is not trusted")]
    UntrustedServer {
        /// The server address.
        address: String,
        /// What rustls objected to (unknown issuer, wrong name, expired).
        #[source]
        source: rustls::Error,
    },
    /// The server answered the TLS handshake in plain text: a plain HTTP or gRPC port was dialed
    /// as a TLS one (a wrong port, most likely).
    #[error(
        "{address} answered in plain text, not TLS: is this the right port? (a plain HTTP or \
         gRPC port, such as the API's 5681, is not a TLS server)"
    )]
    NotTls {
        /// The server address.
        address: String,
        /// What rustls read instead of a handshake.
        #[source]
        source: rustls::Error,
    },
    /// The TLS handshake failed for another reason (alert from the server, timeout, protocol).
    #[error("TLS handshake with {address} failed")]
    Handshake {
        /// The server address.
        address: String,
        /// The handshake error.
        #[source]
        source: io::Error,
    },
    /// HTTP/2 could not be started over the established connection.
    #[error("starting HTTP/2 with {address}")]
    Transport {
        /// The server address.
        address: String,
        /// tonic's error.
        #[source]
        source: tonic::transport::Error,
    },
}

/// Connects to `settings.address` and returns a tonic channel over that connection, with HTTP/2
/// keepalive every 15 s. The channel redials through the same TLS settings if the connection
/// drops later; errors of those redials reach the caller as failed calls.
pub async fn connect(settings: &ChannelSettings) -> Result<Channel, ConnectError> {
    let dialer = Arc::new(Dialer::new(settings)?);
    let first = dialer.dial().await?;
    let address = settings.address.clone();
    let endpoint = Endpoint::from_shared(format!("http://{}", dialer.authority))
        .map_err(|_| ConnectError::Address { address: address.clone() })?
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE)
        .keep_alive_while_idle(true);
    let endpoint = match dialer.tls {
        // Requests then carry `:scheme https`, which is what they travel over.
        Some(_) => endpoint.origin(dialer.origin()?),
        None => endpoint,
    };
    let first = Arc::new(Mutex::new(Some(first)));
    let connector = tower::service_fn(move |_: Uri| {
        let first = first.lock().unwrap_or_else(PoisonError::into_inner).take();
        let dialer = dialer.clone();
        async move {
            let io = match first {
                Some(io) => io,
                None => dialer.dial().await?,
            };
            Ok::<_, ConnectError>(TokioIo::new(io))
        }
    });
    endpoint
        .connect_with_connector(connector)
        .await
        .map_err(|source| ConnectError::Transport { address, source })
}

/// Everything needed to open one connection; shared by the first dial and tonic's redials.
struct Dialer {
    address: String,
    authority: String,
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    local_ip: Option<IpAddr>,
}

impl Dialer {
    fn new(settings: &ChannelSettings) -> Result<Self, ConnectError> {
        let address = settings.address.clone();
        let bad_address = || ConnectError::Address { address: address.clone() };
        let uri: Uri = address.parse().map_err(|_| bad_address())?;
        let secure = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("grpcs") => true,
            Some("grpc") => false,
            _ => return Err(bad_address()),
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad_address());
        }
        let authority = uri.authority().ok_or_else(bad_address)?;
        let port = authority.port_u16().ok_or_else(bad_address)?;
        // IPv6 literals come bracketed, which neither the resolver nor ServerName wants.
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        let tls = if secure {
            let server_name = ServerName::try_from(host.clone()).map_err(|_| bad_address())?;
            let config = client_tls(settings).map_err(|source| ConnectError::Tls {
                address: address.clone(),
                source: Box::new(source),
            })?;
            Some((TlsConnector::from(Arc::new(config)), server_name))
        } else {
            None
        };
        Ok(Self {
            authority: authority.as_str().to_owned(),
            address,
            host,
            port,
            tls,
            local_ip: settings.local_ip,
        })
    }

    fn origin(&self) -> Result<Uri, ConnectError> {
        format!("https://{}", self.authority)
            .parse()
            .map_err(|_| ConnectError::Address { address: self.address.clone() })
    }

    async fn dial(&self) -> Result<Io<TlsStream<TcpStream>>, ConnectError> {
        let tcp = tokio::time::timeout(DIAL_TIMEOUT, self.tcp())
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
            .map_err(|source| match source.kind() {
                // The peer accepted the connection and closed it at once: what an allowlist
                // in front of the server does.
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::BrokenPipe => {
                    ConnectError::Refused { address: self.address.clone(), source }
                }
                _ => ConnectError::Unreachable { address: self.address.clone(), source },
            })?;
        let Some((connector, server_name)) = &self.tls else {
            return Ok(Io::Plain(tcp));
        };
        let handshake = connector.connect(server_name.clone(), tcp);
        match tokio::time::timeout(DIAL_TIMEOUT, handshake).await {
            Ok(Ok(stream)) => Ok(Io::Tls(Box::new(stream))),
            Ok(Err(err)) => Err(self.classify(err)),
            Err(_elapsed) => Err(ConnectError::Handshake {
                address: self.address.clone(),
                source: io::ErrorKind::TimedOut.into(),
            }),
        }
    }

    /// Connects to the first resolved address that answers.
    async fn tcp(&self) -> io::Result<TcpStream> {
        let mut last_err = None;
        for addr in tokio::net::lookup_host((self.host.as_str(), self.port)).await? {
            match self.tcp_to(addr).await {
                Ok(stream) => return Ok(stream),
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address")
        }))
    }

    async fn tcp_to(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(ip) = self.local_ip {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(addr).await?;
        // Only a latency tweak; a socket the peer already closed fails later with a clear error.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    fn classify(&self, err: io::Error) -> ConnectError {
        let address = self.address.clone();
        let rustls_err = err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match rustls_err {
            Some(source @ rustls::Error::InvalidCertificate(_)) => {
                return ConnectError::UntrustedServer { address, source: source.clone() };
            }
            Some(source @ rustls::Error::InvalidMessage(_)) => {
                return ConnectError::NotTls { address, source: source.clone() };
            }
            _ => {}
        }
        match err.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => ConnectError::Refused { address, source: err },
            _ => ConnectError::Handshake { address, source: err },
        }
    }
}

fn client_tls(settings: &ChannelSettings) -> Result<rustls::ClientConfig, tls::Error> {
    let mut config = if settings.skip_verify {
        static WARNED: Once = Once::new();
        // Once per process: the zone redials with backoff, and one loud line says it all.
        WARNED.call_once(|| {
            tracing::warn!(
                address = %settings.address,
                "TLS verification of the server is OFF (skip verify): any server can impersonate \
                 it; set a root CA instead"
            );
        });
        dangerous_unverified_client_config()?
    } else {
        let roots = match &settings.root_ca {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|source| tls::Error::Read { path: path.clone(), source })?,
            ),
            None => None,
        };
        match &settings.identity {
            Some(identity) => client_config_with_identity(roots.as_deref(), identity)?,
            None => client_config(roots.as_deref())?,
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
