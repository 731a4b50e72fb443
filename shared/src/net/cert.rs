//! A listener's certificate: loaded once, then kept in step with its files for as long as any
//! listener presents it, so that replacing the files takes effect without a restart.
//!
//! Listeners that present the control plane certificate share one [`ServerCert`] (clones share
//! the certificate and its watch); a listener with files of its own gets its own. This file only
//! loads and watches; which files a listener uses is the caller's choice.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kuma_core::tls::{self, CertPair, ReloadingCert};

use super::{Error, WatchHandle, watch_cert_files};

/// A server certificate, reloaded when its files change (unless it came from memory).
#[derive(Debug, Clone)]
pub struct ServerCert {
    cert: Arc<ReloadingCert>,
    /// Keeps the files watched while any clone lives.
    _watch: Option<Arc<WatchHandle>>,
}

impl ServerCert {
    /// Loads `cert` and `key` and watches them: a new pair that loads replaces the certificate
    /// for new handshakes; one that does not is logged and the current certificate stays.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, Error> {
        let pair = tls::load_pair(cert, key)
            .map_err(|source| Error::Cert { path: cert.to_owned(), source: Box::new(source) })?;
        let reloading = Self::reloading(&pair, cert)?;
        let watch = watch_cert_files(cert.to_owned(), key.to_owned(), reloading.clone())?;
        Ok(Self { cert: reloading, _watch: Some(Arc::new(watch)) })
    }

    /// A certificate that was loaded (or generated) already, kept in step with the files it is
    /// stored in.
    pub fn watched(pair: &CertPair, cert: PathBuf, key: PathBuf) -> Result<Self, Error> {
        let reloading = Self::reloading(pair, &cert)?;
        let watch = watch_cert_files(cert, key, reloading.clone())?;
        Ok(Self { cert: reloading, _watch: Some(Arc::new(watch)) })
    }

    /// A certificate held in memory only (tests, tools): never reloaded.
    pub fn fixed(pair: &CertPair) -> Result<Self, Error> {
        Ok(Self { cert: Self::reloading(pair, Path::new("<memory>"))?, _watch: None })
    }

    /// What the next handshake presents.
    pub fn current(&self) -> Arc<ReloadingCert> {
        Arc::clone(&self.cert)
    }

    fn reloading(pair: &CertPair, origin: &Path) -> Result<Arc<ReloadingCert>, Error> {
        ReloadingCert::new(pair)
            .map_err(|source| Error::Cert { path: origin.to_owned(), source: Box::new(source) })
    }
}
