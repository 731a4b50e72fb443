//! The runtime's own listeners (the API over HTTP and HTTPS, diagnostics) from the
//! configuration, and the certificate any listener presents: its own files, or the control
//! plane's. Every one is a [`Listener`], so every TLS one follows its certificate files.

use std::path::Path;

use crate::audit::AuditLog;
use crate::config::{CertKeyFiles, Diagnostics, Https};
use crate::metrics::Metrics;
use crate::net::{
    self, ALPN_H2_HTTP1, ClientCerts, Listener, ListenerBuilder, ServerCert, ServerTls,
};

use super::{Error, tls_options};

/// Binds `builder`, naming `server` in the error.
pub(super) async fn bind(
    server: &'static str,
    builder: ListenerBuilder,
    metrics: &Metrics,
    audit: &AuditLog,
) -> Result<Listener, Error> {
    builder.bind(metrics.clone(), audit.clone()).await.map_err(|err| match err {
        net::Error::Bind { addr, source } => Error::Bind { server, addr, source },
        other => Error::ServerTls { server, source: Box::new(other) },
    })
}

/// The HTTPS API's TLS: its own certificate or the CP's, and client certificates checked against
/// `KUMA_API_SERVER_HTTPS_TLS_CA_FILE` (required with `..._REQUIRE_CLIENT_CERT`).
pub(super) fn https_tls(https: &Https, cp: &ServerCert) -> Result<ServerTls, Error> {
    const SERVER: &str = super::HTTPS_SERVER;
    let cert = server_cert(https.tls_files.as_ref(), cp)
        .map_err(|source| Error::ServerTls { server: SERVER, source: Box::new(source) })?;
    let client_certs = match (&https.tls_ca_file, https.require_client_cert) {
        (Some(path), true) => ClientCerts::Required(read(path)?),
        (Some(path), false) => ClientCerts::Optional(read(path)?),
        (None, _) => ClientCerts::None,
    };
    let options = tls_options(&https.tls);
    Ok(ServerTls { cert, options, alpn: ALPN_H2_HTTP1, client_certs })
}

/// The diagnostics server's TLS (`KUMA_DIAGNOSTICS_TLS_ENABLED`): its own certificate or the CP's.
pub(super) fn diagnostics_tls(diag: &Diagnostics, cp: &ServerCert) -> Result<ServerTls, Error> {
    let cert = server_cert(diag.tls_files.as_ref(), cp).map_err(|source| Error::ServerTls {
        server: super::DIAGNOSTICS_SERVER,
        source: Box::new(source),
    })?;
    let options = tls_options(&diag.tls);
    Ok(ServerTls { cert, options, alpn: ALPN_H2_HTTP1, client_certs: ClientCerts::None })
}

/// A listener's own certificate files, watched, when configured; else the CP certificate (shared,
/// and watched once by the runtime).
pub(super) fn server_cert(
    own: Option<&CertKeyFiles>,
    cp: &ServerCert,
) -> Result<ServerCert, net::Error> {
    match own {
        Some(files) => ServerCert::from_files(&files.cert, &files.key),
        None => Ok(cp.clone()),
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|source| Error::ReadFile { path: path.to_owned(), source })
}
