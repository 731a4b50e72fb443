//! What every control plane runs, global or zone: the work dir, the CP certificate, the store,
//! and the API and diagnostics listeners, with the extension points where a role adds what only
//! it serves: REST routes ([`Runtime::add_routes`]) and background tasks ([`Runtime::add_task`]:
//! KDS, the DP server, MADS...).
//!
//! [`Runtime::build`] does every fallible step (files, store, binding ports) before anything is
//! served, so a bad setting stops the start with nothing half-running; a role binds its own
//! listeners between `build` and `run`. [`Runtime::run`] then serves until shutdown, starts the
//! role's tasks, and waits for all of them before it closes the store.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use futures::future::BoxFuture;
use kuma_core::shutdown::Shutdown;
use kuma_core::tls::{self, ServerTlsOptions};
use kuma_core::tokens;
use store::{self, Store};
use time::OffsetDateTime;

use crate::api::diagnostics::{self, Readiness};
use crate::api::serve::{self, ConnLimits};
use crate::api::{self, ApiConfig, ApiState, AuthSettings, Issuers, Services};
use crate::audit::{self, AuditLog};
use crate::config::{CertKeyFiles, CpConfig, TlsSettings, TlsVersion};
use crate::credentials::{self, Credentials};
use crate::defaults;
use crate::insights::Insights;
use crate::metrics::Metrics;
use crate::net::{self, Listener, ServerCert};

mod listeners;
mod setup;

/// Where Kuma keeps the deployment's cluster id: a `Config` record of this name.
/// The Kuma release whose API and configuration we follow.
pub const BASED_ON_KUMA: &str = kuma_core::BASED_ON_KUMA;
/// The servers' names in logs and errors.
const HTTP_SERVER: &str = "API server (HTTP)";
const HTTPS_SERVER: &str = "API server (HTTPS)";
const DIAGNOSTICS_SERVER: &str = "diagnostics server";

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
    /// The control plane certificate's files could not be watched.
    #[error("could not watch the control plane certificate files")]
    CpCertWatch(#[source] net::Error),
    /// A server's TLS setup failed (its own certificate, CA file or options).
    #[error("could not set up TLS for the {server}")]
    ServerTls {
        /// Which server.
        server: &'static str,
        /// Why.
        #[source]
        source: Box<net::Error>,
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
    /// The defaults of a new deployment (the `default` Mesh) could not be created.
    #[error("could not create the default mesh")]
    Defaults(#[source] Box<credentials::Error>),
    /// A task a role added failed.
    #[error("the {task} failed")]
    Task {
        /// The task's name.
        task: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A task a role added panicked.
    #[error("the {task} panicked")]
    TaskPanicked {
        /// The task's name.
        task: &'static str,
    },
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
    /// The control plane certificate, following its files; shared by every listener that has
    /// no certificate of its own.
    cp_cert: ServerCert,
    readiness: Readiness,
    services: Services,
    instance_id: String,
    api: ApiState,
    /// Routes only this role serves.
    role_routes: Router<ApiState>,
    /// Tasks only this role runs.
    tasks: Vec<Task>,
    http: Option<Listener>,
    https: Option<Listener>,
    diagnostics: Listener,
    addresses: Addresses,
}

impl Runtime {
    /// Prepares the work dir, the CP certificate and the store, and binds every listener.
    pub async fn build(config: CpConfig) -> Result<Self, Error> {
        let role = setup::role(&config);
        tracing::info!(mode = config.mode.as_str(), ?role, "starting the control plane");
        let config_json = config.to_json();
        tracing::info!(config = %config_json, "effective configuration");
        if !config.ignored_keys.is_empty() {
            tracing::warn!(keys = ?config.ignored_keys, "ignoring Kuma settings this control plane does not implement");
        }
        if !config.ignored_env.is_empty() {
            tracing::warn!(variables = ?config.ignored_env, "ignoring Kuma variables this control plane does not implement");
        }
        setup::ensure_work_dir(&config.general.work_dir)?;
        let cp_cert = setup::cp_cert(&config)?;

        let store = Store::connect(&config.store)
            .await
            .map_err(|source| Error::Store { backend: setup::store_name(&config), source })?;
        let cluster_id = setup::ensure_cluster_id(&store)
            .await
            .map_err(|source| Error::Store { backend: store.backend_name(), source })?;
        tracing::info!(backend = store.backend_name(), %cluster_id, "store ready");

        let audit = AuditLog::open(&config.general.audit_log_file).map_err(Error::Audit)?;
        let metrics = Metrics::new();
        let settings = setup::credential_settings(&config, role)?;
        let credentials = Credentials::new(store.clone(), settings, audit.clone());
        let admin_token_created = setup::prepare_credentials(&config, &credentials).await?;
        let now = OffsetDateTime::now_utc();
        match defaults::apply(&store, &credentials, role, config.defaults, now).await {
            Ok(defaults::Outcome::Created) => tracing::info!(
                "created the default mesh for this new deployment \
                 (KUMA_DEFAULTS_SKIP_MESH_CREATION=true skips it)"
            ),
            Ok(outcome) => tracing::debug!(?outcome, "default mesh"),
            Err(err) => return Err(Error::Defaults(Box::new(err))),
        }
        let kds_status = crate::kds::status::KdsStatus::with_metrics(metrics.clone());
        let (insights, insights_feed) = Insights::start(store.clone(), role)
            .await
            .map_err(|source| Error::Store { backend: store.backend_name(), source })?;
        let services = Services { credentials, audit, metrics, kds_status, insights };

        let index = setup::index(cluster_id);
        let instance_id = index.instance_id.clone();
        let api_server = &config.api_server;
        let api = ApiState::new(
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
        );

        let (metrics, audit) = (&services.metrics, &services.audit);
        let http = match api_server.http.enabled {
            true => {
                let addr = SocketAddr::new(api_server.http.interface, api_server.http.port);
                let builder = Listener::builder("api-http", addr);
                Some(listeners::bind(HTTP_SERVER, builder, metrics, audit).await?)
            }
            false => None,
        };
        let https = match api_server.https.listener.enabled {
            true => {
                let tls = listeners::https_tls(&api_server.https, &cp_cert)?;
                let https = &api_server.https.listener;
                let addr = SocketAddr::new(https.interface, https.port);
                let builder = Listener::builder("api-https", addr).tls(tls);
                Some(listeners::bind(HTTPS_SERVER, builder, metrics, audit).await?)
            }
            false => None,
        };
        let diagnostics_addr =
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), config.diagnostics.server_port);
        let mut builder = Listener::builder("diagnostics", diagnostics_addr);
        if config.diagnostics.tls_enabled {
            builder = builder.tls(listeners::diagnostics_tls(&config.diagnostics, &cp_cert)?);
        }
        let diagnostics = listeners::bind(DIAGNOSTICS_SERVER, builder, metrics, audit).await?;

        let addresses = Addresses {
            http: http.as_ref().map(Listener::local_addr),
            https: https.as_ref().map(Listener::local_addr),
            diagnostics: diagnostics.local_addr(),
        };
        if admin_token_created {
            let ca = match &config.general.tls_files {
                Some(files) => files.cert.clone(),
                None => config.general.work_dir.join(tls::CP_CERT_FILE),
            };
            let hint = setup::admin_token_hint(&addresses, &ca);
            tracing::info!("created the admin user token; read it on this host with: {hint}");
        }
        let mut runtime = Self {
            config: Arc::new(config),
            store,
            cp_cert,
            readiness: Readiness::default(),
            services,
            instance_id,
            api,
            role_routes: Router::new(),
            tasks: Vec::new(),
            http,
            https,
            diagnostics,
            addresses,
        };
        runtime.add_task("insights", move |shutdown| insights_feed.run(shutdown));
        Ok(runtime)
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

    /// The certificate a listener presents: its own files when configured, else the control
    /// plane certificate (general, or autogenerated in the work dir). Either follows its files.
    pub fn server_cert(&self, own: Option<&CertKeyFiles>) -> Result<ServerCert, net::Error> {
        listeners::server_cert(own, &self.cp_cert)
    }

    /// The effective configuration.
    pub fn config(&self) -> &CpConfig {
        &self.config
    }

    /// The readiness flag behind `/ready`, for components that must be up before it turns 200.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// Adds REST routes only this role serves (the global's zones registry, a zone's dataplane
    /// overviews) to the API, on HTTP and HTTPS alike.
    pub fn add_routes(&mut self, routes: Router<ApiState>) {
        let current = std::mem::take(&mut self.role_routes);
        self.role_routes = current.merge(routes);
    }

    /// Runs `task` while the control plane runs: [`run`](Self::run) starts it before it reports
    /// ready, hands it the shutdown signal and waits for it to end before it closes the store;
    /// `name` says which task failed. Every instance runs these (leader-gated tasks are for the
    /// HA work to add).
    pub fn add_task<F, Fut, E>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let start = Box::new(move |shutdown| -> BoxFuture<'static, TaskResult> {
            Box::pin(async move { task(shutdown).await.map_err(Into::into) })
        });
        self.tasks.push(Task { name, start });
    }

    /// Serves until `shutdown` fires, then drains connections, waits for the role's tasks and
    /// closes the store. Fails with the first task that failed.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), Error> {
        let limits = ConnLimits { read_header_timeout: self.config.api_server.read_header_timeout };
        let api = api::router(self.api, self.role_routes);
        let mut servers = tokio::task::JoinSet::new();
        if let Some(listener) = self.http {
            tracing::info!(addr = %listener.local_addr(), "{HTTP_SERVER} listening");
            servers.spawn(serve::serve(listener, api.clone(), limits, shutdown.clone()));
        }
        if let Some(listener) = self.https {
            tracing::info!(addr = %listener.local_addr(), "{HTTPS_SERVER} listening");
            servers.spawn(serve::serve(listener, api.clone(), limits, shutdown.clone()));
        }
        tracing::info!(addr = %self.addresses.diagnostics, "{DIAGNOSTICS_SERVER} listening");
        let diagnostics =
            diagnostics::router(self.readiness.clone(), self.services.metrics.clone());
        servers.spawn(serve::serve(self.diagnostics, diagnostics, limits, shutdown.clone()));
        let tasks: Vec<_> = self
            .tasks
            .into_iter()
            .map(|task| (task.name, tokio::spawn((task.start)(shutdown.clone()))))
            .collect();

        self.readiness.set(true);
        tracing::info!("control plane ready");
        let mut shutdown = shutdown;
        shutdown.wait().await;
        self.readiness.set(false);
        tracing::info!("shutting down");
        while servers.join_next().await.is_some() {}
        let mut outcome = Ok(());
        for (name, handle) in tasks {
            let ended = match handle.await {
                Ok(Ok(())) => continue,
                Ok(Err(source)) => Error::Task { task: name, source },
                Err(_) => Error::TaskPanicked { task: name },
            };
            tracing::error!(error = %kuma_core::error::Chain(&ended), "a control plane task failed");
            if outcome.is_ok() {
                outcome = Err(ended);
            }
        }
        self.store.close().await;
        tracing::info!("stopped");
        outcome
    }
}

/// What a role's task ends with.
type TaskResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A task a role added, started by [`Runtime::run`].
struct Task {
    name: &'static str,
    start: Box<dyn FnOnce(Shutdown) -> BoxFuture<'static, TaskResult> + Send>,
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
