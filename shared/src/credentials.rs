//! Credentials kept in the store: token signing keys, mesh CA secrets, revocation lists, and the
//! validators built from them.
//!
//! This is the glue between `tokens`/`ca` (which take bytes) and the `store` (which keeps
//! Secrets and GlobalSecrets). It creates keys and CAs when they are missing, picks the newest
//! key to sign, and builds validators from the keys and revocation lists present right now.
//! Validators are kept in a [`Derived`] cache and rebuilt after any Secret or GlobalSecret write
//! (the store's per-kind generations, bumped before the write returns) or a resync, so a
//! revocation or a deleted key takes effect on the very next validation, without polling. Mesh
//! CAs loaded for signing are cached the same way (see `issuers`). Writes made by another control
//! plane instance on the same database are not seen this way (see the README's limits).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kuma_core::ca;
use kuma_core::resources::{
    CaBackend, CaType, MeshSpec, ResourceType, SecretSpec, Spec, ValidationError, Violation,
};
use kuma_core::tokens::{
    self, DEFAULT_VALID_FOR, Issued, Issuer, KeyKind, KeySet, SigningKey, StaticKey, UserClaims,
    Validated, Validator,
};
use secrecy::ExposeSecret;
use serde::Serialize;
use store::{self, Derived, Key, Store};
use time::OffsetDateTime;

use crate::audit::{AuditLog, Event};

mod issuers;

/// The GlobalSecret holding the bootstrap admin token.
pub const ADMIN_TOKEN_SECRET: &str = "admin-user-token";
/// The user and group of the bootstrap admin token.
const ADMIN: &str = "mesh-system:admin";

/// How this control plane treats tokens.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// A federated zone verifies zone tokens with the public keys the global sends, and never
    /// holds the private zone token keys.
    pub federated_zone: bool,
    /// Keys from config for user tokens signed offline.
    pub user_static_keys: Vec<StaticKey>,
    /// Keys from config for dataplane tokens signed offline.
    pub dataplane_static_keys: Vec<StaticKey>,
    /// Keys from config for zone tokens signed offline.
    pub zone_static_keys: Vec<StaticKey>,
    /// Whether keys stored as secrets verify tokens (`..._VALIDATOR_USE_SECRETS`), per kind.
    pub use_secrets: UseSecrets,
}

/// `..._VALIDATOR_USE_SECRETS` for each token kind.
#[derive(Debug, Clone, Copy)]
pub struct UseSecrets {
    /// User tokens.
    pub user: bool,
    /// Dataplane tokens.
    pub dataplane: bool,
    /// Zone tokens.
    pub zone: bool,
}

impl Default for UseSecrets {
    fn default() -> Self {
        Self { user: true, dataplane: true, zone: true }
    }
}

/// Which validator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// User tokens (API authentication).
    User,
    /// Zone tokens (zone proxies, zone control planes).
    Zone,
    /// Dataplane tokens of one mesh.
    Dataplane {
        /// The mesh.
        mesh: String,
    },
}

/// Failures of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing secrets failed.
    #[error("could not access the store")]
    Store(#[from] store::Error),
    /// A key could not be made, read or used.
    #[error("token operation failed")]
    Token(#[from] tokens::Error),
    /// A mesh CA could not be created.
    #[error("could not create the CA of mesh {mesh:?} backend {backend:?}")]
    Ca {
        /// The mesh.
        mesh: String,
        /// The backend.
        backend: String,
        /// Why.
        #[source]
        source: ca::Error,
    },
    /// A mesh CA could not be loaded to sign with.
    #[error("could not load the CA of mesh {mesh:?} backend {backend:?}")]
    LoadCa {
        /// The mesh.
        mesh: String,
        /// The backend.
        backend: String,
        /// Why.
        #[source]
        source: ca::Error,
    },
    /// A provided CA backend's `conf` does not parse (the Mesh was stored before it was checked).
    #[error("the conf of backend {backend:?} of mesh {mesh:?} is not valid")]
    BadCaConf {
        /// The mesh.
        mesh: String,
        /// The backend.
        backend: String,
    },
    /// There is no key to sign this kind of token with (a federated zone has no zone token key).
    #[error("there is no signing key {prefix}-<serial> on this control plane")]
    NoSigningKey {
        /// The secret name prefix looked for.
        prefix: String,
    },
}

/// Shared handle; cloning is cheap.
#[derive(Clone)]
pub struct Credentials {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    settings: Settings,
    audit: AuditLog,
    /// Validators over the keys and revocations stored now.
    validators: Derived<TokenKind, Validator>,
    /// Mesh CAs loaded for signing.
    issuers: issuers::Issuers,
}

impl Credentials {
    /// A handle over `store`.
    pub fn new(store: Store, settings: Settings, audit: AuditLog) -> Self {
        let inner = Inner {
            validators: Derived::new(store.clone()),
            issuers: issuers::Issuers::new(store.clone()),
            store,
            settings,
            audit,
        };
        Self { inner: Arc::new(inner) }
    }

    /// Creates the control plane's token signing keys when none exist: user token keys on every
    /// control plane, zone token keys on a global or a non-federated zone (a federated zone gets
    /// the zone keys' public halves from the global).
    pub async fn ensure_control_plane_keys(&self) -> Result<(), Error> {
        // RSA key generation dominates a first start; the two keys are made side by side.
        let user = self.ensure_signing_key(&KeyKind::User);
        let zone = async {
            match self.inner.settings.federated_zone {
                true => Ok(()),
                false => self.ensure_signing_key(&KeyKind::Zone).await,
            }
        };
        tokio::try_join!(user, zone).map(|_| ())
    }

    /// Creates the `admin-user-token` GlobalSecret (a 10-year token for `mesh-system:admin`) when
    /// it does not exist; `true` when this call created it.
    pub async fn ensure_admin_token(&self, now: OffsetDateTime) -> Result<bool, Error> {
        let key = Key::global(ResourceType::GlobalSecret.name(), ADMIN_TOKEN_SECRET);
        if self.exists(&key).await? {
            return Ok(false);
        }
        let claims = UserClaims { name: ADMIN.to_owned(), groups: vec![ADMIN.to_owned()] };
        let issued = self
            .issue(&KeyKind::User, &claims, DEFAULT_VALID_FOR, "control-plane", ADMIN, now)
            .await?;
        self.create_secret(key, issued.token.as_bytes()).await
    }

    /// Creates what a mesh needs: its dataplane token signing key, and a root CA for each builtin
    /// backend that has none yet.
    pub async fn ensure_mesh(
        &self,
        mesh: &str,
        spec: &MeshSpec,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        self.ensure_signing_key(&KeyKind::Dataplane { mesh: mesh.to_owned() }).await?;
        let Some(mtls) = &spec.mtls else {
            return Ok(());
        };
        for backend in mtls.backends.iter().filter(|b| b.kind == CaType::Builtin) {
            let cert_name = ca::builtin_cert_secret_name(mesh, &backend.name);
            let cert_key = Key::resource(ResourceType::Secret, mesh, &cert_name);
            if self.exists(&cert_key).await? {
                continue;
            }
            let ca_error =
                |source| Error::Ca { mesh: mesh.to_owned(), backend: backend.name.clone(), source };
            // The mesh was validated before it was stored, so its conf parses.
            let conf = ca::BuiltinConf::parse(backend.conf.as_ref(), "conf").unwrap_or_default();
            let pair = ca::generate_builtin_root(mesh, &conf, now).map_err(ca_error)?;
            let key_key = Key::resource(
                ResourceType::Secret,
                mesh,
                &ca::builtin_key_secret_name(mesh, &backend.name),
            );
            // Key first: a cert without its key would look like a finished CA.
            self.create_secret(key_key, pair.key_pem.expose_secret().as_bytes()).await?;
            if self.create_secret(cert_key, pair.cert_pem.as_bytes()).await? {
                self.inner.audit.record(Event::CaCreated {
                    mesh: mesh.to_owned(),
                    backend: backend.name.clone(),
                });
            }
        }
        Ok(())
    }

    /// Kuma's checks of a mesh's mTLS backends before it is stored: backend configs (a provided
    /// CA must satisfy X509-SVID), and no switch of CA while mTLS is on. Returns the warnings.
    pub async fn check_mesh(
        &self,
        name: &str,
        old: Option<&MeshSpec>,
        new: &MeshSpec,
    ) -> Result<Result<Vec<Violation>, ValidationError>, Error> {
        if let Some(old) = old
            && let Err(err) = ca::check_backend_change(old, new)
        {
            return Ok(Err(err));
        }
        let mut secrets = BTreeMap::new();
        for (_, secret) in ca::used_secrets(new) {
            let key = Key::resource(ResourceType::Secret, name, &secret);
            match self.inner.store.get(&key).await {
                Ok(record) => {
                    if let Some(bytes) = secret_bytes(&record) {
                        secrets.insert(secret, bytes);
                    }
                }
                Err(store::Error::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(ca::validate_mesh_backends(name, new, &|n| secrets.get(n).cloned()))
    }

    /// Kuma's refusal to delete a Secret that a provided CA backend still uses.
    pub async fn secret_in_use(&self, mesh: &str, secret: &str) -> Result<Option<String>, Error> {
        let key = Key::global(ResourceType::Mesh.name(), mesh);
        let record = match self.inner.store.get(&key).await {
            Ok(record) => record,
            Err(store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let Ok(Spec::Mesh(spec)) = Spec::from_value(ResourceType::Mesh, record.spec) else {
            return Ok(None);
        };
        Ok(ca::used_secrets(&spec)
            .into_iter()
            .find(|(_, used)| used == secret)
            .map(|(backend, _)| ca::secret_in_use_message(secret, mesh, &backend)))
    }

    /// Signs a token of `kind` with the newest key, and audits it (never the token itself).
    pub async fn issue<C: Serialize>(
        &self,
        kind: &KeyKind,
        claims: &C,
        valid_for: Duration,
        issuer: &str,
        subject: &str,
        now: OffsetDateTime,
    ) -> Result<Issued, Error> {
        let secrets = self.signing_secrets(kind).await?;
        let latest = tokens::latest_signing_key(
            kind,
            secrets.iter().map(|(n, d)| (n.as_str(), d.as_slice())),
        )?;
        let Some((serial, key)) = latest else {
            return Err(Error::NoSigningKey { prefix: kind.prefix() });
        };
        let kid = serial.to_string();
        let issued = Issuer.issue(claims, &key, &kid, valid_for, now)?;
        let (label, mesh) = match kind {
            KeyKind::Dataplane { mesh } => ("dataplane", Some(mesh.clone())),
            KeyKind::Zone => ("zone", None),
            KeyKind::User => ("user", None),
        };
        self.inner.audit.record(Event::TokenIssued {
            kind: label,
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            mesh,
            jti: issued.jti.clone(),
            kid,
            not_before: rfc3339(issued.not_before),
            expires: rfc3339(issued.expires),
        });
        Ok(issued)
    }

    /// Checks a user token (`Authorization: Bearer`).
    pub async fn authenticate_user(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Validated<UserClaims>, Error> {
        Ok(self.validator(TokenKind::User).await?.validate(token, now)?)
    }

    /// The validator of `kind` over the keys and revocations stored now (cached until a secret
    /// changes).
    pub async fn validator(&self, kind: TokenKind) -> Result<Arc<Validator>, Error> {
        const SOURCES: [ResourceType; 2] = [ResourceType::Secret, ResourceType::GlobalSecret];
        let build = || self.build_validator(&kind);
        self.inner.validators.get(&kind, &SOURCES, |_| true, build).await
    }

    /// The CA of `backend` of `mesh`, loaded to sign data plane certificates: from the mesh's
    /// Secrets (builtin) or the backend's data sources (provided). Kept loaded until a Secret or
    /// a Mesh is written or `backend` differs, except a provided CA read from files.
    pub async fn issuer(&self, mesh: &str, backend: &CaBackend) -> Result<Arc<ca::Issuer>, Error> {
        self.inner.issuers.get(mesh, backend).await
    }

    async fn build_validator(&self, kind: &TokenKind) -> Result<Validator, Error> {
        let settings = &self.inner.settings;
        let (key_kind, statics, use_secrets) = match kind {
            TokenKind::User => {
                (KeyKind::User, &settings.user_static_keys, settings.use_secrets.user)
            }
            TokenKind::Zone => {
                (KeyKind::Zone, &settings.zone_static_keys, settings.use_secrets.zone)
            }
            TokenKind::Dataplane { mesh } => (
                KeyKind::Dataplane { mesh: mesh.clone() },
                &settings.dataplane_static_keys,
                settings.use_secrets.dataplane,
            ),
        };
        let mut keys = match (kind, settings.federated_zone) {
            (TokenKind::Zone, true) => KeySet::zone_public_keys(),
            _ => KeySet::signing_keys(&key_kind),
        };
        for key in statics {
            keys.insert_static(key.clone());
        }
        let global = self.inner.store.list(ResourceType::GlobalSecret.name(), None).await?;
        let mesh_secrets = match key_kind.mesh() {
            Some(mesh) => self.inner.store.list(ResourceType::Secret.name(), Some(mesh)).await?,
            None => Vec::new(),
        };
        let key_secrets = match key_kind.mesh() {
            Some(_) => &mesh_secrets,
            None => &global,
        };
        if use_secrets {
            for record in key_secrets {
                let Some(data) = secret_bytes(record) else {
                    continue;
                };
                if let Err(err) = keys.insert_secret(&record.key.name, &data) {
                    tracing::warn!(secret = %record.key, %err, "ignoring an unreadable signing key");
                }
            }
        }
        // Revocations: Kuma ≤2.9 read a mesh Secret, ≥2.10 a GlobalSecret of the same name; both
        // count here.
        let revocations = key_kind.revocations_name();
        let mut revoked = std::collections::HashSet::new();
        for record in global.iter().chain(mesh_secrets.iter()).filter(|r| r.key.name == revocations)
        {
            if let Some(data) = secret_bytes(record) {
                revoked.extend(tokens::parse_revocations(&data));
            }
        }
        Ok(Validator::new(key_kind, keys, revoked))
    }

    async fn ensure_signing_key(&self, kind: &KeyKind) -> Result<(), Error> {
        if !self.signing_secrets(kind).await?.is_empty() {
            return Ok(());
        }
        // Tens of milliseconds of CPU: kept off the async workers.
        let key = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(|_| Error::Token(tokens::Error::GenerateKey))??;
        let name = kind.name(1);
        let store_key = match kind.mesh() {
            Some(mesh) => Key::resource(ResourceType::Secret, mesh, &name),
            None => Key::resource(ResourceType::GlobalSecret, "", &name),
        };
        if self.create_secret(store_key, key.to_pem().as_bytes()).await? {
            self.inner
                .audit
                .record(Event::SigningKeyCreated { name, mesh: kind.mesh().map(str::to_owned) });
        }
        Ok(())
    }

    /// (name, data) of every secret holding a signing key of `kind`.
    async fn signing_secrets(&self, kind: &KeyKind) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let records = match kind.mesh() {
            Some(mesh) => self.inner.store.list(ResourceType::Secret.name(), Some(mesh)).await?,
            None => self.inner.store.list(ResourceType::GlobalSecret.name(), None).await?,
        };
        Ok(records
            .iter()
            .filter(|r| kind.parse_serial(&r.key.name).is_some())
            .filter_map(|r| Some((r.key.name.clone(), secret_bytes(r)?)))
            .collect())
    }

    async fn exists(&self, key: &Key) -> Result<bool, Error> {
        match self.inner.store.get(key).await {
            Ok(_) => Ok(true),
            Err(store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Creates a secret; `false` when another instance created it first.
    async fn create_secret(&self, key: Key, data: &[u8]) -> Result<bool, Error> {
        let spec = Spec::Secret(SecretSpec::from_bytes(data)).to_value();
        match self.inner.store.create(key, spec, BTreeMap::new()).await {
            Ok(_) => Ok(true),
            Err(store::Error::AlreadyExists { .. }) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }
}

fn secret_bytes(record: &store::Record) -> Option<Vec<u8>> {
    match Spec::from_value(ResourceType::Secret, record.spec.clone()) {
        Ok(Spec::Secret(secret)) => secret.bytes(),
        _ => None,
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
