//! What every control plane runs, global or zone: the work dir, the CP certificate, the store,
//! and the API and diagnostics listeners.
//!
//! [`Runtime::build`] does every fallible step (files, store, binding ports) before anything is
//! served, so a bad setting stops the start with nothing half-running. [`Runtime::run`] then
//! serves until shutdown. KDS and the DP server are added by the `global` and `zone` crates on
//! top of this; they reuse [`Runtime::cp_cert`] and [`Runtime::store`].

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use kuma_core::shutdown::Shutdown;
use kuma_core::tls::{self, CertPair, ClientAuth, Provenance, ServerTlsOptions};
use kuma_core::tokens::{self, PublicKey, StaticKey};
use serde_json::json;
use store::{self, Key, Store};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::api::diagnostics::{self, Readiness};
use crate::api::serve::{self, ConnLimits};
use crate::api::{self, ApiConfig, ApiState, AuthSettings, Index, Issuers, Role, Services};
use crate::audit::{self, AuditLog};
use crate::config::{CertKeyFiles, CpConfig, Mode, StaticPublicKey, TlsSettings, TlsVersion};
use crate::credentials::{self, Credentials, UseSecrets};
use crate::metrics::Metrics;

/// Where Kuma keeps the deployment's cluster id: a `Config` record of this name.
const CLUSTER_ID_KEY: &str = "kuma-cluster-id";
/// The Kuma release whose API and configuration we follow.
pub const BASED_ON_KUMA: &str = "2.14.3";
/// ALPN protocols of the HTTPS API.
const HTTPS_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Start-up failures; each names the file, port or component that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The work dir could not be created.
    #[error("could not create the work dir {path}")]
    WorkDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The control plane certificate could not be loaded or generated.
    #[error("could not load or generate the control plane certificate")]
    CpCert(#[source] Box<tls::Error>),
    /// A server's TLS setup failed (its own certificate, CA file or options).
    #[error("could not set up TLS for the {server}")]
    ServerTls {
        /// Which server.
        server: &'static str,
        /// Why.
        #[source]
        source: Box<tls::Error>,
    },
    /// A CA file could not be read.
    #[error("could not read {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The store could not be opened or prepared.
    #[error("could not open the {backend} store")]
    Store {
        /// `memory`, `sqlite` or `postgres`.
        backend: &'static str,
        /// Why.
        #[source]
        source: store::Error,
    },
    /// The audit log could not be opened.
    #[error("could not open the audit log")]
    Audit(#[source] audit::Error),
    /// A static public key from the configuration does not parse.
    #[error("the public key {kid:?} in {setting} is not a valid RSA public key")]
    StaticKey {
        /// The YAML list it came from.
        setting: &'static str,
        /// Its kid.
        kid: String,
        /// Why.
        #[source]
        source: Box<tokens::Error>,
    },
    /// Signing keys or the admin token could not be created.
    #[error("could not prepare the token signing keys")]
    Credentials(#[source] Box<credentials::Error>),
    /// A listener could not be bound.
    #[error("could not bind the {server} on {addr}")]
    Bind {
        /// Which server.
        server: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// The addresses the runtime's listeners are bound to (ports resolved when 0 was asked for).
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    /// API over HTTP, when enabled.
    pub http: Option<SocketAddr>,
    /// API over HTTPS, when enabled.
    pub https: Option<SocketAddr>,
    /// Diagnostics (`/ready`, `/healthy`).
    pub diagnostics: SocketAddr,
}

/// A started (bound, not yet serving) control plane core.
pub struct Runtime {
    config: Arc<CpConfig>,
    store: Store,
    cp_cert: CertPair,
    readiness: Readiness,
    services: Services,
    instance_id: String,
    api: Router,
    http: Option<TcpListener>,
    https: Option<(TcpListener, TlsAcceptor)>,
    diagnostics: TcpListener,
    diagnostics_tls: Option<TlsAcceptor>,
    addresses: Addresses,
}

impl Runtime {
    /// Prepares the work dir, the CP certificate and the store, and binds every listener.
    pub async fn build(config: CpConfig) -> Result<Self, Error> {
        let role = role(&config);
        tracing::info!(mode = config.mode.as_str(), ?role, "starting the control plane");
        let config_json = config.to_json();
        tracing::info!(config = %config_json, "effective configuration");
        if !config.ignored_keys.is_empty() {
            tracing::warn!(keys = ?config.ignored_keys, "ignoring Kuma settings this control plane does not implement");
        }
        if !config.ignored_env.is_empty() {
            tracing::warn!(variables = ?config.ignored_env, "ignoring Kuma variables this control plane does not implement");
        }
        ensure_work_dir(&config.general.work_dir)?;
        let cp_cert = cp_cert(&config)?;

        let store = Store::connect(&config.store)
            .await
            .map_err(|source| Error::Store { backend: store_name(&config), source })?;
        let cluster_id = ensure_cluster_id(&store)
            .await
            .map_err(|source| Error::Store { backend: store.backend_name(), source })?;
        tracing::info!(backend = store.backend_name(), %cluster_id, "store ready");

        let audit = AuditLog::open(&config.general.audit_log_file).map_err(Error::Audit)?;
        let metrics = Metrics::new();
        let settings = credential_settings(&config, role)?;
        let credentials = Credentials::new(store.clone(), settings, audit.clone());
        prepare_credentials(&config, &credentials).await?;
        let kds_status = crate::zones::KdsStatus::with_metrics(metrics.clone());
        let services = Services { credentials, audit, metrics, kds_status };

        let index = index(cluster_id);
        let instance_id = index.instance_id.clone();
        let api_server = &config.api_server;
        let api = api::router(ApiState::new(
            store.clone(),
            ApiConfig {
                role,
                auth: AuthSettings {
                    localhost_is_admin: api_server.authn.localhost_is_admin,
                    anonymous_can_write: api_server.authn.anonymous_can_write,
                },
                access: config.access.clone(),
                issuers: Issuers {
                    user: api_server.authn.tokens.enable_issuer,
                    dataplane: config.dp_server.dp_token.enable_issuer,
                    zone: config.dp_server.zone_token.enable_issuer,
                },
                read_only: api_server.read_only,
                create_mesh_routing_resources: config.defaults.create_mesh_routing_resources,
                max_body_bytes: api_server.max_body_bytes,
                request_timeout: api_server.read_timeout + api_server.write_timeout,
                tokens_rate_limit: api_server.tokens_rate_limit,
                config_json,
                index,
            },
            services.clone(),
        ));

        let http = match api_server.http.enabled {
            true => {
                let addr = SocketAddr::new(api_server.http.interface, api_server.http.port);
                Some(bind("API server (HTTP)", addr).await?)
            }
            false => None,
        };
        let https = match api_server.https.listener.enabled {
            true => {
                let https = &api_server.https;
                let server = "API server (HTTPS)";
                let pair = server_cert(server, https.tls_files.as_ref(), &cp_cert)?;
                let client_ca = https.tls_ca_file.as_deref().map(read_file).transpose()?;
                let client_auth = match (&client_ca, https.require_client_cert) {
                    (Some(ca), true) => ClientAuth::Required(ca),
                    (Some(ca), false) => ClientAuth::Optional(ca),
                    (None, _) => ClientAuth::None,
                };
                let tls_config =
                    tls::server_config(&pair, &tls_options(&https.tls), client_auth, &HTTPS_ALPN)
                        .map_err(|source| Error::ServerTls { server, source: Box::new(source) })?;
                let addr = SocketAddr::new(https.listener.interface, https.listener.port);
                Some((bind(server, addr).await?, TlsAcceptor::from(tls_config)))
            }
            false => None,
        };
        let diagnostics_addr =
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), config.diagnostics.server_port);
        let diagnostics = bind("diagnostics server", diagnostics_addr).await?;
        let diagnostics_tls = match config.diagnostics.tls_enabled {
            true => {
                let server = "diagnostics server";
                let diag = &config.diagnostics;
                let pair = server_cert(server, diag.tls_files.as_ref(), &cp_cert)?;
                let tls_config = tls::server_config(
                    &pair,
                    &tls_options(&diag.tls),
                    ClientAuth::None,
                    &HTTPS_ALPN,
                )
                .map_err(|source| Error::ServerTls { server, source: Box::new(source) })?;
                Some(TlsAcceptor::from(tls_config))
            }
            false => None,
        };

        let addresses = Addresses {
            http: http.as_ref().map(local_addr).transpose()?,
            https: https.as_ref().map(|(l, _)| local_addr(l)).transpose()?,
            diagnostics: local_addr(&diagnostics)?,
        };
        Ok(Self {
            config: Arc::new(config),
            store,
            cp_cert,
            readiness: Readiness::default(),
            services,
            instance_id,
            api,
            http,
            https,
            diagnostics,
            diagnostics_tls,
            addresses,
        })
    }

    /// Adds a role's own REST routes (already given their state) to the API, beside the shared
    /// ones. They must not overlap the shared routes.
    pub fn extend_api(&mut self, routes: Router) {
        let api = std::mem::take(&mut self.api);
        self.api = api.merge(routes);
    }

    /// Where the listeners are bound.
    pub fn addresses(&self) -> Addresses {
        self.addresses
    }

    /// The store every component shares.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// This process's instance id (`<hostname>-<4 hex>`), as `GET /` reports it.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Credentials, audit log and metrics, shared with the API.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The control plane certificate (general, or autogenerated in the work dir).
    pub fn cp_cert(&self) -> &CertPair {
        &self.cp_cert
    }

    /// The effective configuration.
    pub fn config(&self) -> &CpConfig {
        &self.config
    }

    /// The readiness flag behind `/ready`, for components that must be up before it turns 200.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// Serves until `shutdown` fires, then drains connections and closes the store.
    pub async fn run(self, shutdown: Shutdown) {
        let limits = ConnLimits { read_header_timeout: self.config.api_server.read_header_timeout };
        let mut tasks = tokio::task::JoinSet::new();
        if let (Some(listener), Some(addr)) = (self.http, self.addresses.http) {
            tracing::info!(%addr, "API server (HTTP) listening");
            tasks.spawn(serve::serve(listener, None, self.api.clone(), limits, shutdown.clone()));
        }
        if let (Some((listener, acceptor)), Some(addr)) = (self.https, self.addresses.https) {
            tracing::info!(%addr, "API server (HTTPS) listening");
            let api = self.api.clone();
            tasks.spawn(serve::serve(listener, Some(acceptor), api, limits, shutdown.clone()));
        }
        tracing::info!(addr = %self.addresses.diagnostics, "diagnostics server listening");
        let diagnostics =
            diagnostics::router(self.readiness.clone(), self.services.metrics.clone());
        tasks.spawn(serve::serve(
            self.diagnostics,
            self.diagnostics_tls,
            diagnostics,
            limits,
            shutdown.clone(),
        ));

        self.readiness.set(true);
        tracing::info!("control plane ready");
        let mut shutdown = shutdown;
        shutdown.wait().await;
        self.readiness.set(false);
        tracing::info!("shutting down");
        while tasks.join_next().await.is_some() {}
        self.store.close().await;
        tracing::info!("stopped");
    }
}

fn role(config: &CpConfig) -> Role {
    match config.mode {
        Mode::Global => Role::Global,
        Mode::Zone if config.is_federated_zone() => Role::FederatedZone,
        Mode::Zone => Role::Zone,
    }
}

/// Token settings from the configuration; static public keys are parsed here, before anything
/// is served.
fn credential_settings(config: &CpConfig, role: Role) -> Result<credentials::Settings, Error> {
    let parse = |setting: &'static str, keys: &[StaticPublicKey]| {
        keys.iter()
            .map(|k| {
                let key = PublicKey::from_pem(k.pem.as_bytes()).map_err(|source| {
                    Error::StaticKey { setting, kid: k.kid.clone(), source: Box::new(source) }
                })?;
                Ok(StaticKey { kid: k.kid.clone(), mesh: k.mesh.clone(), key })
            })
            .collect::<Result<Vec<_>, Error>>()
    };
    let user = &config.api_server.authn.tokens;
    let dp = &config.dp_server.dp_token;
    let zone = &config.dp_server.zone_token;
    Ok(credentials::Settings {
        federated_zone: role == Role::FederatedZone,
        user_static_keys: parse("apiServer.authn.tokens.validator.publicKeys", &user.public_keys)?,
        dataplane_static_keys: parse(
            "dpServer.authn.dpProxy.dpToken.validator.publicKeys",
            &dp.public_keys,
        )?,
        zone_static_keys: parse(
            "dpServer.authn.zoneProxy.zoneToken.validator.publicKeys",
            &zone.public_keys,
        )?,
        use_secrets: UseSecrets {
            user: user.use_secrets,
            dataplane: dp.use_secrets,
            zone: zone.use_secrets,
        },
    })
}

/// Creates missing signing keys and, when asked for, the bootstrap admin token.
async fn prepare_credentials(config: &CpConfig, credentials: &Credentials) -> Result<(), Error> {
    credentials.ensure_control_plane_keys().await.map_err(|e| Error::Credentials(Box::new(e)))?;
    if config.api_server.authn.tokens.bootstrap_admin_token {
        let now = OffsetDateTime::now_utc();
        credentials.ensure_admin_token(now).await.map_err(|e| Error::Credentials(Box::new(e)))?;
    }
    Ok(())
}

fn store_name(config: &CpConfig) -> &'static str {
    match config.store {
        store::StoreConfig::Memory => "memory",
        store::StoreConfig::Sqlite { .. } => "sqlite",
        store::StoreConfig::Postgres(_) => "postgres",
    }
}

fn ensure_work_dir(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| Error::WorkDir { path: path.to_owned(), source })
}

fn cp_cert(config: &CpConfig) -> Result<CertPair, Error> {
    if let Some(files) = &config.general.tls_files {
        tracing::info!(cert = %files.cert.display(), "using the configured control plane certificate");
        return tls::load_pair(&files.cert, &files.key).map_err(|e| Error::CpCert(Box::new(e)));
    }
    let work_dir = &config.general.work_dir;
    let (pair, provenance) = tls::load_or_generate_cp_cert(work_dir, OffsetDateTime::now_utc())
        .map_err(|e| Error::CpCert(Box::new(e)))?;
    let path = work_dir.join(tls::CP_CERT_FILE);
    match provenance {
        Provenance::Generated => tracing::warn!(
            cert = %path.display(),
            "generated a self-signed control plane certificate; clients must trust this file \
             (every instance generates its own: set KUMA_GENERAL_TLS_CERT_FILE for replicas)"
        ),
        Provenance::Loaded => {
            tracing::info!(cert = %path.display(), "reusing the control plane certificate")
        }
    }
    Ok(pair)
}

/// A server's own certificate when configured, else the CP certificate.
fn server_cert(
    server: &'static str,
    own: Option<&CertKeyFiles>,
    cp: &CertPair,
) -> Result<CertPair, Error> {
    match own {
        Some(files) => tls::load_pair(&files.cert, &files.key)
            .map_err(|source| Error::ServerTls { server, source: Box::new(source) }),
        None => Ok(cp.clone()),
    }
}

/// Maps the configuration's TLS settings onto the TLS module's options.
pub fn tls_options(settings: &TlsSettings) -> ServerTlsOptions {
    let version = |v: TlsVersion| match v {
        TlsVersion::Tls12 => tls::Version::Tls12,
        TlsVersion::Tls13 => tls::Version::Tls13,
    };
    ServerTlsOptions {
        min_version: version(settings.min_version),
        max_version: settings.max_version.map(version),
        cipher_suites: settings.cipher_suites.clone(),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::ReadFile { path: path.to_owned(), source })
}

async fn bind(server: &'static str, addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|source| Error::Bind { server, addr, source })
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, Error> {
    // local_addr only fails for sockets that are not bound, which these are.
    listener.local_addr().map_err(|source| Error::Bind {
        server: "listener",
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        source,
    })
}

/// Kuma keeps one cluster id per deployment; the first instance to start creates it.
async fn ensure_cluster_id(store: &Store) -> Result<String, store::Error> {
    let key = Key::global("Config", CLUSTER_ID_KEY);
    let read =
        |record: store::Record| record.spec["config"].as_str().unwrap_or_default().to_owned();
    match store.get(&key).await {
        Ok(record) => return Ok(read(record)),
        Err(store::Error::NotFound { .. }) => {}
        Err(err) => return Err(err),
    }
    let id = uuid::Uuid::new_v4().to_string();
    match store.create(key.clone(), json!({ "config": id }), BTreeMap::new()).await {
        Ok(_) => Ok(id),
        // Another instance won the race: use its id.
        Err(store::Error::AlreadyExists { .. }) => store.get(&key).await.map(read),
        Err(err) => Err(err),
    }
}

fn index(cluster_id: String) -> Index {
    let hostname = hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..4];
    Index {
        instance_id: format!("{hostname}-{suffix}"),
        hostname,
        tagline: "Kuma".to_owned(),
        product: "Kuma".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        based_on_kuma: BASED_ON_KUMA.to_owned(),
        cluster_id,
        gui: "no GUI is served by this control plane".to_owned(),
    }
}
