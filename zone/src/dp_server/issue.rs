//! Signing a proxy's CSR with its mesh's enabled mTLS backend: loads the CA from the mesh's
//! Secrets (builtin) or the backend's data sources (provided), derives the identity from the
//! Dataplane and picks the validity and the jittered rotation time. It reads the store and never
//! writes it; the session decides when to issue.

use std::collections::BTreeMap;
use std::time::Duration;

use shared::ca::{self, DEFAULT_DP_CERT_VALIDITY, Issuer, ProvidedConf};
use shared::resources::{CaBackend, CaType, DataplaneSpec, DpCert, MeshSpec, ResourceType, Spec};
use shared::store::{self, Key, Store};
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
    /// The provided backend's `conf` does not parse.
    #[error("the conf of backend {0:?} is not valid")]
    BadConf(String),
    /// The CA could not be loaded, or the CSR or identity was refused.
    #[error("could not issue the certificate")]
    Ca(#[from] ca::Error),
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
    /// The mesh.
    pub mesh: &'a str,
    /// The Dataplane's name.
    pub name: &'a str,
    /// Its spec.
    pub spec: &'a DataplaneSpec,
    /// Its labels.
    pub labels: &'a BTreeMap<String, String>,
    /// The DER PKCS#10 request.
    pub csr: &'a [u8],
}

/// Signs `request` with `backend` of its mesh.
pub async fn issue(
    store: &Store,
    backend: &CaBackend,
    request: &Request<'_>,
) -> Result<Issued, Error> {
    let mesh = request.mesh;
    let issuer = load_issuer(store, mesh, backend).await?;
    let id = ca::identity(mesh, request.name, request.spec, request.labels)?;
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

async fn load_issuer(store: &Store, mesh: &str, backend: &CaBackend) -> Result<Issuer, Error> {
    let secrets = mesh_secrets(store, mesh).await?;
    let resolve = |name: &str| secrets.get(name).cloned();
    match backend.kind {
        CaType::Builtin => {
            let cert_name = ca::builtin_cert_secret_name(mesh, &backend.name);
            let key_name = ca::builtin_key_secret_name(mesh, &backend.name);
            let missing = |name: String| ca::Error::SecretNotFound { name, mesh: mesh.to_owned() };
            let cert = resolve(&cert_name).ok_or_else(|| missing(cert_name.clone()))?;
            let key = resolve(&key_name).ok_or_else(|| missing(key_name.clone()))?;
            Ok(Issuer::new(&cert, &key)?)
        }
        CaType::Provided => {
            let conf = ProvidedConf::parse(backend.conf.as_ref(), "conf")
                .map_err(|_| Error::BadConf(backend.name.clone()))?;
            let cert = conf.cert.load(mesh, &resolve)?;
            let key = conf.key.load(mesh, &resolve)?;
            Ok(Issuer::new(&cert, &key)?)
        }
    }
}

async fn mesh_spec(store: &Store, mesh: &str) -> Result<MeshSpec, Error> {
    let record = store.get(&Key::global(ResourceType::Mesh.name(), mesh)).await?;
    match Spec::from_value(ResourceType::Mesh, record.spec) {
        Ok(Spec::Mesh(spec)) => Ok(spec),
        _ => Err(Error::BadMesh(mesh.to_owned())),
    }
}

/// Name → data of every Secret of `mesh`.
async fn mesh_secrets(store: &Store, mesh: &str) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let records = store.list(ResourceType::Secret.name(), Some(mesh)).await?;
    Ok(records
        .into_iter()
        .filter_map(|r| match Spec::from_value(ResourceType::Secret, r.spec) {
            Ok(Spec::Secret(secret)) => Some((r.key.name, secret.bytes()?)),
            _ => None,
        })
        .collect())
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
