//! Certificate files a test can replace under a running server, and what a real TLS client is
//! presented: for the tests that listeners follow their certificate files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kuma_core::tls::{CertKind, CertPair, KeyType, dangerous_unverified_client_config};
use rustls_pki_types::ServerName;
use secrecy::ExposeSecret;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A certificate and key file pair for `localhost` and 127.0.0.1.
pub struct CertFiles {
    /// The certificate chain file.
    pub cert: PathBuf,
    /// The key file.
    pub key: PathBuf,
}

impl CertFiles {
    /// Writes a new pair into `dir` (created if missing); returns the files and the leaf (DER).
    pub fn create(dir: &Path) -> (Self, Vec<u8>) {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let files = Self { cert: dir.join("tls.crt"), key: dir.join("tls.key") };
        let leaf = files.replace();
        (files, leaf)
    }

    /// Replaces both files with a new pair the way tools do (written aside, then renamed over
    /// the old names, key first); returns the new leaf (DER).
    pub fn replace(&self) -> Vec<u8> {
        let pair = pair();
        let aside = |path: &Path, contents: &str| {
            let staged = path.with_extension("new");
            std::fs::write(&staged, contents).expect("writing a certificate file");
            std::fs::rename(&staged, path).expect("renaming a certificate file");
        };
        aside(&self.key, pair.key_pem.expose_secret());
        aside(&self.cert, &pair.cert_pem);
        leaf(&pair)
    }

    /// The variables that make `prefix`'s server use these files: `<prefix>_CERT_FILE` and
    /// `<prefix>_KEY_FILE`.
    pub fn env(&self, prefix: &str) -> Vec<(String, String)> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        vec![
            (format!("{prefix}_CERT_FILE"), path(&self.cert)),
            (format!("{prefix}_KEY_FILE"), path(&self.key)),
        ]
    }
}

/// The leaf (DER) a TLS server at `addr` presents to a client that accepts any certificate;
/// `None` when the handshake fails.
pub async fn presented_leaf(addr: SocketAddr) -> Option<Vec<u8>> {
    kuma_core::process::install_crypto_provider();
    let config = dangerous_unverified_client_config().ok()?;
    let tcp = TcpStream::connect(addr).await.ok()?;
    let name = ServerName::try_from("localhost").ok()?;
    let handshake = TlsConnector::from(Arc::new(config)).connect(name, tcp);
    let tls = tokio::time::timeout(Duration::from_secs(5), handshake).await.ok()?.ok()?;
    tls.get_ref().1.peer_certificates()?.first().map(|der| der.to_vec())
}

/// Polls `addr` until it presents `leaf`, or panics after `within` naming `what`.
pub async fn wait_for_leaf(what: &str, addr: SocketAddr, leaf: &[u8], within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if presented_leaf(addr).await.as_deref() == Some(leaf) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what} did not present the expected certificate within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn pair() -> CertPair {
    let hosts = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    let now = time::OffsetDateTime::now_utc();
    kuma_core::tls::generate_certificate(CertKind::Server, &hosts, KeyType::Ecdsa, now)
        .expect("generating a test certificate")
}

fn leaf(pair: &CertPair) -> Vec<u8> {
    pair.chain().expect("the generated chain parses")[0].to_vec()
}
