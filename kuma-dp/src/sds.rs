//! The local SDS server: `envoy.service.secret.v3.SecretDiscoveryService` (state of the world,
//! delta and fetch) on `<workdir>/kuma-sds.sock`, mode 0600, serving the proxy's identity to its
//! own Envoy only.
//!
//! Secrets, named as Kuma names them:
//! - `identity_cert:secret:<mesh>`: `tls_certificate` with the certificate chain and the private
//!   key kuma-dp made; the key leaves the process only here, to Envoy, over this socket;
//! - `mesh_ca:secret:<mesh>`: `validation_context` whose `trusted_ca` is the mesh's trust bundle.
//!
//! Both follow the session's [`Status`]: a rotated certificate is pushed on the open streams
//! (new versions of the same names), so Envoy swaps it in place, with no listener drain. With
//! mTLS off there is nothing to serve, and a request for a name waits until there is. This
//! module must not talk to the control plane.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, Secret, TlsCertificate, secret,
};
use envoy_types::pb::envoy::service::secret::v3::secret_discovery_service_server::SecretDiscoveryServiceServer;
use envoy_types::pb::google::protobuf::Any;
use prost::{Message, Name};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio_stream::wrappers::UnixListenerStream;

use crate::readiness::Status;

mod delta;
mod service;
mod sotw;

/// Prefix of the identity secret's name.
pub const IDENTITY_PREFIX: &str = "identity_cert:secret:";
/// Prefix of the trust bundle secret's name.
pub const MESH_CA_PREFIX: &str = "mesh_ca:secret:";
/// The type URL of `envoy.extensions.transport_sockets.tls.v3.Secret`.
pub const SECRET_TYPE_URL: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// Where the secrets come from: the session's status and the key kuma-dp holds.
#[derive(Clone)]
pub struct Source {
    mesh: String,
    key_pem: SecretString,
    status: watch::Receiver<Status>,
}

/// One secret as served: a version that changes with its content, and the resource.
#[derive(Debug, Clone, PartialEq)]
struct Served {
    version: String,
    resource: Any,
}

/// The secrets available now, by name.
type Secrets = BTreeMap<String, Served>;

impl Source {
    /// Secrets for `mesh` from `status`, with `key_pem` as the identity's private key.
    pub fn new(mesh: &str, key_pem: SecretString, status: watch::Receiver<Status>) -> Self {
        Self { mesh: mesh.to_owned(), key_pem, status }
    }

    /// The secrets as the status holds them now; empty without an identity.
    fn secrets(&self) -> Secrets {
        let status = self.status.borrow();
        let Some(held) = status.held.as_ref() else {
            return Secrets::new();
        };
        let inline = |text: &str| DataSource {
            specifier: Some(data_source::Specifier::InlineString(text.to_owned())),
            ..DataSource::default()
        };
        let identity = Secret {
            name: format!("{IDENTITY_PREFIX}{}", self.mesh),
            r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
                certificate_chain: Some(inline(&held.cert_chain)),
                private_key: Some(inline(self.key_pem.expose_secret())),
                ..TlsCertificate::default()
            })),
        };
        let mesh_ca = Secret {
            name: format!("{MESH_CA_PREFIX}{}", self.mesh),
            r#type: Some(secret::Type::ValidationContext(CertificateValidationContext {
                trusted_ca: Some(inline(&held.trust_bundle)),
                ..CertificateValidationContext::default()
            })),
        };
        [identity, mesh_ca].into_iter().map(|s| (s.name.clone(), served(&s))).collect()
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("mesh", &self.mesh).finish_non_exhaustive()
    }
}

/// Serves SDS on `listener` (already bound and made 0600 by the caller) until `shutdown`.
pub async fn serve(
    listener: UnixListener,
    source: Source,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(SecretDiscoveryServiceServer::new(service::Service::new(source)))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await
}

/// Binds `path` as a Unix socket only its owner can use. A socket file left there by a process
/// that is gone is replaced; one somebody still answers on is an error.
pub async fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "another process serves on {}: give each kuma-dp its own --work-dir",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// A secret with its content hash as the version.
fn served(secret: &Secret) -> Served {
    let value = secret.encode_to_vec();
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    Served {
        version: format!("{:016x}", hasher.finish()),
        resource: Any { type_url: Secret::type_url(), value },
    }
}

#[cfg(test)]
mod tests;
