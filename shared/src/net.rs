//! Network transport shared by every gRPC listener and client: the address allowlist, TLS
//! listeners fed to tonic, certificate file watching, and the client channel with its backoff.
//!
//! The server side accepts TCP itself so it can close connections from disallowed addresses
//! before a single TLS byte is exchanged, then hands finished TLS (or plain) streams to tonic
//! through [`TlsListener::incoming`]. The client side dials TCP and TLS itself so
//! [`ConnectError`] can tell an untrusted server from a refusing or unreachable one. This module
//! must stay protocol-blind: it knows nothing of KDS or xDS messages, and it never builds rustls
//! configurations itself (`shared::tls` does).

use std::path::PathBuf;

mod allowlist;
mod backoff;
mod client;
mod conn;
mod listener;
mod watch;

pub use allowlist::Allowlist;
pub use backoff::Backoff;
pub use client::{ChannelSettings, ConnectError, connect};
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
        /// What `shared::tls` found.
        #[source]
        source: Box<crate::tls::Error>,
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
