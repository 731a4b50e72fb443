//! Mesh CAs loaded for signing data plane certificates, kept per (mesh, backend).
//!
//! Parsing a CA (PEM, the chain, the private key) costs more than signing with it, so the DP
//! server must not do it for every CSR. A loaded [`ca::Issuer`] is kept in a [`Derived`] cache
//! until a Secret or a Mesh is written through the store (or the store resyncs), or the backend's
//! settings differ from the ones it was loaded with. A provided CA read from files on disk is
//! never reused: a file can change without any store write.

use std::collections::BTreeMap;
use std::sync::Arc;

use kuma_core::ca::{self, DataSource, Issuer, ProvidedConf};
use kuma_core::resources::{CaBackend, CaType, ResourceType};
use store::{Derived, Store};

use super::Error;

/// Loaded CAs by (mesh, backend name).
pub(super) struct Issuers {
    cache: Derived<(String, String), Loaded>,
}

/// A CA as loaded for one backend's settings.
struct Loaded {
    backend: CaBackend,
    issuer: Arc<Issuer>,
    /// No part of it came from a file, which can change without a store write.
    cacheable: bool,
}

impl Issuers {
    pub(super) fn new(store: Store) -> Self {
        Self { cache: Derived::new(store) }
    }

    /// The CA of `backend` of `mesh`, loaded from the mesh's Secrets (builtin) or the backend's
    /// data sources (provided), or the one loaded before when no Secret or Mesh was written
    /// since, the backend's settings are the same and nothing of it came from a file.
    pub(super) async fn get(&self, mesh: &str, backend: &CaBackend) -> Result<Arc<Issuer>, Error> {
        const SOURCES: [ResourceType; 2] = [ResourceType::Secret, ResourceType::Mesh];
        let key = (mesh.to_owned(), backend.name.clone());
        let reuse = |loaded: &Loaded| loaded.cacheable && loaded.backend == *backend;
        let build = || async {
            let (issuer, cacheable) = load(self.cache.store(), mesh, backend).await?;
            Ok::<_, Error>(Loaded { backend: backend.clone(), issuer: Arc::new(issuer), cacheable })
        };
        Ok(Arc::clone(&self.cache.get(&key, &SOURCES, reuse, build).await?.issuer))
    }
}

/// Loads the CA; the flag says whether it may be cached (no part of it was read from a file).
async fn load(store: &Store, mesh: &str, backend: &CaBackend) -> Result<(Issuer, bool), Error> {
    let secrets = mesh_secrets(store, mesh).await?;
    let resolve = |name: &str| secrets.get(name).cloned();
    let load_error =
        |source| Error::LoadCa { mesh: mesh.to_owned(), backend: backend.name.clone(), source };
    match backend.kind {
        CaType::Builtin => {
            let cert_name = ca::builtin_cert_secret_name(mesh, &backend.name);
            let key_name = ca::builtin_key_secret_name(mesh, &backend.name);
            let missing = |name: String| ca::Error::SecretNotFound { name, mesh: mesh.to_owned() };
            let cert = resolve(&cert_name).ok_or_else(|| load_error(missing(cert_name.clone())))?;
            let key = resolve(&key_name).ok_or_else(|| load_error(missing(key_name.clone())))?;
            Ok((Issuer::new(&cert, &key).map_err(load_error)?, true))
        }
        CaType::Provided => {
            let conf = ProvidedConf::parse(backend.conf.as_ref(), "conf").map_err(|_| {
                Error::BadCaConf { mesh: mesh.to_owned(), backend: backend.name.clone() }
            })?;
            let cert = conf.cert.load(mesh, &resolve).map_err(load_error)?;
            let key = conf.key.load(mesh, &resolve).map_err(load_error)?;
            let from_file = |source: &DataSource| matches!(source, DataSource::File(_));
            let cacheable = !from_file(&conf.cert) && !from_file(&conf.key);
            Ok((Issuer::new(&cert, &key).map_err(load_error)?, cacheable))
        }
    }
}

/// Name → data of every Secret of `mesh`.
async fn mesh_secrets(store: &Store, mesh: &str) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let records = store.list(ResourceType::Secret.name(), Some(mesh)).await?;
    Ok(records.iter().filter_map(|r| Some((r.key.name.clone(), super::secret_bytes(r)?))).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kuma_core::identity::Subject;
    use kuma_core::resources::{MeshSpec, SecretSpec, Spec};
    use secrecy::ExposeSecret;
    use serde_json::json;
    use store::Key;
    use time::OffsetDateTime;

    use super::*;
    use crate::audit::AuditLog;
    use crate::credentials::{Credentials, Settings};

    const MESH: &str = "default";

    fn backend(value: serde_json::Value) -> CaBackend {
        serde_json::from_value(value).unwrap()
    }

    /// The trust bundle of a certificate issued by `issuer`: which CA signed it.
    fn signed_by(issuer: &Issuer) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let csr = rcgen::CertificateParams::default().serialize_request(&key).unwrap();
        let dp = json!({"networking": {"address": "10.0.0.1",
            "inbound": [{"port": 80, "tags": {"kuma.io/service": "web"}}]}});
        let Ok(Spec::Dataplane(spec)) = Spec::from_value(ResourceType::Dataplane, dp) else {
            panic!("the test Dataplane does not validate");
        };
        let labels = BTreeMap::new();
        let subject = Subject { mesh: MESH, name: "web", spec: &spec, labels: &labels };
        let id = subject.mtls().unwrap();
        let validity = std::time::Duration::from_secs(3600);
        let now = OffsetDateTime::now_utc();
        issuer.issue(csr.der(), &id, validity, now).unwrap().trust_bundle_pem
    }

    async fn put_secret(store: &Store, name: &str, data: &[u8]) {
        let key = Key::resource(ResourceType::Secret, MESH, name);
        let spec = Spec::Secret(SecretSpec::from_bytes(data)).to_value();
        let version = store.get(&key).await.map(|r| r.version).ok();
        match version {
            Some(version) => store.update(key, spec, BTreeMap::new(), version).await.unwrap(),
            None => store.create(key, spec, BTreeMap::new()).await.unwrap(),
        };
    }

    #[tokio::test]
    async fn a_loaded_ca_is_kept_until_a_secret_the_mesh_or_the_backend_changes() {
        let store = Store::memory();
        let credentials = Credentials::new(store.clone(), Settings::default(), AuditLog::memory());
        let ca_1 = backend(json!({"name": "ca-1", "type": "builtin"}));
        let mesh: MeshSpec =
            serde_json::from_value(json!({"mtls": {"enabledBackend": "ca-1", "backends": [ca_1]}}))
                .unwrap();
        let now = OffsetDateTime::now_utc();
        credentials.ensure_mesh(MESH, &mesh, now).await.unwrap();
        let first = credentials.issuer(MESH, &ca_1).await.unwrap();
        let same = |a: &Arc<Issuer>, b: &Arc<Issuer>| Arc::ptr_eq(a, b);
        assert!(same(&first, &credentials.issuer(MESH, &ca_1).await.unwrap()));
        let insight = Key::mesh_scoped("DataplaneInsight", MESH, "web");
        store.create(insight, json!({}), BTreeMap::new()).await.unwrap();
        assert!(same(&first, &credentials.issuer(MESH, &ca_1).await.unwrap()), "unrelated write");

        // A new CA in the Secrets signs the next certificate.
        let root = ca::generate_builtin_root(MESH, &Default::default(), now).unwrap();
        put_secret(
            &store,
            &ca::builtin_key_secret_name(MESH, "ca-1"),
            root.key_pem.expose_secret().as_bytes(),
        )
        .await;
        put_secret(&store, &ca::builtin_cert_secret_name(MESH, "ca-1"), root.cert_pem.as_bytes())
            .await;
        let second = credentials.issuer(MESH, &ca_1).await.unwrap();
        assert!(!same(&first, &second));
        assert_eq!(signed_by(&second), root.cert_pem);
        assert!(same(&second, &credentials.issuer(MESH, &ca_1).await.unwrap()));

        let key = Key::resource(ResourceType::Mesh, "", MESH);
        store.create(key, serde_json::to_value(&mesh).unwrap(), BTreeMap::new()).await.unwrap();
        let third = credentials.issuer(MESH, &ca_1).await.unwrap();
        assert!(!same(&second, &third), "a Mesh write loads the CA again");

        let mut changed = ca_1.clone();
        changed.root_chain = Some(serde_json::Map::new());
        assert!(!same(&third, &credentials.issuer(MESH, &changed).await.unwrap()));
    }

    #[tokio::test]
    async fn a_provided_ca_read_from_files_is_read_for_every_certificate() {
        let store = Store::memory();
        let credentials = Credentials::new(store.clone(), Settings::default(), AuditLog::memory());
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("ca.crt"), dir.path().join("ca.key"));
        let now = OffsetDateTime::now_utc();
        let write = |root: &ca::CaKeyPair| {
            std::fs::write(&cert, &root.cert_pem).unwrap();
            std::fs::write(&key, root.key_pem.expose_secret()).unwrap();
        };
        let first = ca::generate_builtin_root(MESH, &Default::default(), now).unwrap();
        write(&first);
        let provided = backend(json!({"name": "ca-2", "type": "provided", "conf": {
            "cert": {"file": cert}, "key": {"file": key}}}));
        let issuer = credentials.issuer(MESH, &provided).await.unwrap();
        assert_eq!(signed_by(&issuer), first.cert_pem);
        let second = ca::generate_builtin_root(MESH, &Default::default(), now).unwrap();
        write(&second);
        let issuer = credentials.issuer(MESH, &provided).await.unwrap();
        assert_eq!(signed_by(&issuer), second.cert_pem, "no store write, yet the new files count");
    }
}
