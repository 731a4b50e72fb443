//! Signing a proxy's CSR with its mesh's enabled mTLS backend: takes the loaded CA from
//! [`Credentials::issuer`] (cached until a Secret or the Mesh changes), derives the identity from
//! the Dataplane and picks the validity and the jittered rotation time. It reads the store and
//! never writes it; the session decides when to issue.

use std::time::Duration;

use kuma_core::ca::{self, DEFAULT_DP_CERT_VALIDITY};
use kuma_core::identity::{NoIdentity, Subject};
use kuma_core::resources::{CaBackend, DpCert, MeshSpec, ResourceType, Spec};
use shared::credentials::{self, Credentials};
use store::{self, Key, Store};
use time::OffsetDateTime;

/// Why no certificate could be issued.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be read.
    #[error("could not read the store")]
    Store(#[from] store::Error),
    /// The stored Mesh is not a valid Mesh spec.
    #[error("the stored mesh {0:?} is not valid")]
    BadMesh(String),
    /// The enabled backend is not among the mesh's backends.
    #[error("mesh {mesh:?} has no mTLS backend {backend:?}")]
    NoBackend {
        /// The mesh.
        mesh: String,
        /// The enabled backend's name.
        backend: String,
    },
    /// The CA could not be loaded.
    #[error("no CA to sign with")]
    LoadCa(#[from] credentials::Error),
    /// The CSR was refused.
    #[error("could not issue the certificate")]
    Ca(#[from] ca::Error),
    /// The Dataplane has no identity to certify.
    #[error("could not issue the certificate")]
    Identity(#[from] NoIdentity),
}

/// The mesh's mTLS state a session watches: the enabled backend, or `None` when mTLS is off.
pub async fn enabled_backend(store: &Store, mesh: &str) -> Result<Option<CaBackend>, Error> {
    let spec = mesh_spec(store, mesh).await?;
    let Some(mtls) = spec.mtls.filter(|m| !m.enabled_backend.is_empty()) else {
        return Ok(None);
    };
    match mtls.backends.into_iter().find(|b| b.name == mtls.enabled_backend) {
        Some(backend) => Ok(Some(backend)),
        None => Err(Error::NoBackend { mesh: mesh.to_owned(), backend: mtls.enabled_backend }),
    }
}

/// A certificate ready to send.
pub struct Issued {
    /// The certificate and its chain and bundle.
    pub cert: ca::IssuedCert,
    /// When the proxy should ask again.
    pub rotate_at: OffsetDateTime,
    /// The backend that signed it.
    pub backend: String,
    /// The URI SANs, in order.
    pub uris: Vec<String>,
}

/// What to sign for.
pub struct Request<'a> {
    /// The Dataplane the certificate is for.
    pub subject: Subject<'a>,
    /// The DER PKCS#10 request.
    pub csr: &'a [u8],
}

/// Signs `request` with `backend` of its mesh (the CA as `credentials` keeps it loaded).
pub async fn issue(
    credentials: &Credentials,
    backend: &CaBackend,
    request: &Request<'_>,
) -> Result<Issued, Error> {
    let mesh = request.subject.mesh;
    let issuer = credentials.issuer(mesh, backend).await?;
    let id = request.subject.mtls()?;
    let validity = backend
        .dp_cert
        .as_ref()
        .and_then(DpCert::expiration)
        .map_or(DEFAULT_DP_CERT_VALIDITY, |d| d.as_std());
    let now = OffsetDateTime::now_utc();
    let cert = issuer.issue(request.csr, &id, validity, now)?;
    let rotate_at = ca::rotation_at(now, cert.not_after, jitter());
    Ok(Issued { cert, rotate_at, backend: backend.name.clone(), uris: id.uris() })
}

async fn mesh_spec(store: &Store, mesh: &str) -> Result<MeshSpec, Error> {
    let record = store.get(&Key::global(ResourceType::Mesh.name(), mesh)).await?;
    match Spec::from_value(ResourceType::Mesh, record.spec) {
        Ok(Spec::Mesh(spec)) => Ok(spec),
        _ => Err(Error::BadMesh(mesh.to_owned())),
    }
}

/// A random fraction in `0.0..=1.0` (0 when the system has no randomness to give).
fn jitter() -> f64 {
    let mut byte = [0u8; 1];
    match getrandom::fill(&mut byte) {
        Ok(()) => f64::from(byte[0]) / 255.0,
        Err(_) => 0.0,
    }
}

/// How long until `at` (zero if past).
pub fn until(at: OffsetDateTime) -> Duration {
    (at - OffsetDateTime::now_utc()).max(time::Duration::ZERO).unsigned_abs()
}
