//! rustls server configurations, with a certificate that can be swapped while serving.
//!
//! Every configuration uses the aws-lc-rs provider explicitly, so it never depends on the process
//! default. This file must not read files: callers load a [`CertPair`] and call
//! [`ReloadingCert::reload`] when it changes.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::RootCertStore;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

use super::{CertPair, Error, ServerTlsOptions, parse_certs};

/// Whether and how a server asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth<'a> {
    /// No client certificate is asked for.
    None,
    /// A client certificate is optional; when sent, it must chain to this PEM bundle.
    Optional(&'a [u8]),
    /// A client certificate chaining to this PEM bundle is required.
    Required(&'a [u8]),
}

/// The server's certificate, replaceable while connections are being accepted.
///
/// New handshakes use the certificate of the last [`reload`](Self::reload); established
/// connections keep theirs.
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
}

/// Builds a server configuration presenting `pair`, with versions and suites from `opts`.
///
/// `alpn` lists the protocols offered, most preferred first (e.g. `h2`, `http/1.1`).
pub fn server_config(
    pair: &CertPair,
    opts: &ServerTlsOptions,
    client_auth: ClientAuth<'_>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, Error> {
    reloading_server_config(ReloadingCert::new(pair)?, opts, client_auth, alpn)
}

/// As [`server_config`], presenting whatever `cert` holds at each handshake.
pub fn reloading_server_config(
    cert: Arc<ReloadingCert>,
    opts: &ServerTlsOptions,
    client_auth: ClientAuth<'_>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let provider = Arc::new(opts.provider()?);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&opts.versions()?)
        .map_err(Error::Config)?;
    let mut config = match client_verifier(client_auth, provider)? {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    }
    .with_cert_resolver(cert);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

fn client_verifier(
    client_auth: ClientAuth<'_>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, Error> {
    let (pem, optional) = match client_auth {
        ClientAuth::None => return Ok(None),
        ClientAuth::Optional(pem) => (pem, true),
        ClientAuth::Required(pem) => (pem, false),
    };
    let roots = Arc::new(root_store(pem, "client CA")?);
    let builder = WebPkiClientVerifier::builder_with_provider(roots, provider);
    let builder = if optional { builder.allow_unauthenticated() } else { builder };
    builder.build().map(Some).map_err(Error::Verifier)
}

/// Parses a PEM bundle into a root store; `origin` names it in errors.
pub(crate) fn root_store(pem: &[u8], origin: &str) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(parse_certs(pem, origin)?);
    if added == 0 {
        return Err(Error::NoRoots { origin: origin.to_owned() });
    }
    Ok(roots)
}

impl ReloadingCert {
    /// Starts with `pair`, checking that its key belongs to its leaf.
    pub fn new(pair: &CertPair) -> Result<Arc<Self>, Error> {
        Ok(Arc::new(Self { current: RwLock::new(Arc::new(pair.certified_key()?)) }))
    }

    /// Replaces the certificate for new handshakes. On error the old one stays.
    pub fn reload(&self, pair: &CertPair) -> Result<(), Error> {
        let next = Arc::new(pair.certified_key()?);
        // A poisoned lock only means a writer panicked between two whole-Arc assignments, so the
        // value inside is still a complete certificate.
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = next;
        Ok(())
    }

    /// The certificate new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert").finish_non_exhaustive()
    }
}
