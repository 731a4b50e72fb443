//! The control plane's side of the network: one [`Listener`] (built with [`Listener::builder`])
//! for every server, with the address allowlist and the per-address limits before TLS, and
//! certificates that follow their files ([`ServerCert`]). The client channel and its backoff are
//! `kuma_core::net`'s.
//!
//! The listener accepts TCP itself so it can close connections from disallowed addresses before
//! a single TLS byte is exchanged, then hands finished TLS (or plain) streams to tonic through
//! [`Listener::incoming`], or to the HTTP server (`api::serve`). This module must stay
//! protocol-blind: it knows nothing of KDS, xDS or REST, and it never builds rustls
//! configurations itself (`kuma_core::tls` does).

use std::path::PathBuf;

mod allowlist;
mod cert;
mod conn;
mod listener;
mod watch;

pub use allowlist::Allowlist;
pub use cert::ServerCert;
pub use conn::{Conn, ConnInfo};
pub use listener::{
    ALPN_H2, ALPN_H2_HTTP1, ClientCerts, HANDSHAKE_TIMEOUT, Listener, ListenerBuilder, ServerTls,
};
pub use watch::{WatchHandle, watch_cert_files};

/// Errors from setting up a listener or a certificate watch.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("binding {addr}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why (e.g. address in use).
        #[source]
        source: std::io::Error,
    },
    /// A certificate and key pair could not be loaded.
    #[error("loading the certificate {path}")]
    Cert {
        /// The certificate file (or `<memory>`).
        path: PathBuf,
        /// What `kuma_core::tls` found.
        #[source]
        source: Box<kuma_core::tls::Error>,
    },
    /// The server TLS configuration was refused.
    #[error("configuring TLS for listener {listener}")]
    Tls {
        /// The listener's name.
        listener: &'static str,
        /// What `kuma_core::tls` found.
        #[source]
        source: Box<kuma_core::tls::Error>,
    },
    /// The file watcher could not be started.
    #[error("starting the certificate file watcher")]
    Watcher(#[source] notify::Error),
    /// The directory of a certificate file could not be watched.
    #[error("watching {path} for certificate changes")]
    Watch {
        /// The directory.
        path: PathBuf,
        /// What the file watcher said.
        #[source]
        source: notify::Error,
    },
}
