//! The control plane's side of the network: the address allowlist, TLS listeners fed to tonic,
//! and certificate file watching. The client channel and its backoff are `kuma_core::net`'s.
//!
//! The listener accepts TCP itself so it can close connections from disallowed addresses before
//! a single TLS byte is exchanged, then hands finished TLS (or plain) streams to tonic through
//! [`TlsListener::incoming`]. This module must stay protocol-blind: it knows nothing of KDS or
//! xDS messages, and it never builds rustls configurations itself (`kuma_core::tls` does).

use std::path::PathBuf;

mod allowlist;
mod conn;
mod listener;
mod watch;

pub use allowlist::Allowlist;
pub use conn::{Conn, ConnInfo};
pub use listener::{ALPN_H2, ALPN_H2_HTTP1, HANDSHAKE_TIMEOUT, ServerTls, TlsListener};
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
