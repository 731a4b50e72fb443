//! Dev-only: the global and the zone control planes started in-process on loopback, every port
//! chosen by the OS, for the integration tests of every crate (never a dependency of a binary).
//!
//! [`Zone`] and [`Global`] build the real `App` from a test configuration
//! (`shared::testing::cp::config`), run it in a task and stop it through its shutdown trigger;
//! they panic where a test cannot go on. [`tls`] has certificate files a test replaces under a
//! running server. Configurations and clients are `shared::testing`'s; the PostgreSQL test
//! server is `store::testing`'s.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use kuma_core::shutdown::{self, Trigger};
use shared::config::CpConfig;
use shared::runtime::Addresses;
use shared::testing::cp::config;
use store::Store;
use tokio::task::JoinHandle;

pub mod tls;

/// A running control plane task and the trigger that stops it.
struct Running {
    trigger: Trigger,
    task: JoinHandle<anyhow::Result<()>>,
}

/// A zone control plane running in this process.
pub struct Zone {
    /// `http://localhost:<port>`: the API over HTTP, where the test is the local admin.
    pub api: String,
    /// The runtime's listeners (API over HTTP and HTTPS, diagnostics).
    pub addresses: Addresses,
    /// The DP server.
    pub dp_server: SocketAddr,
    /// The monitoring assignment server, when enabled.
    pub mads: Option<SocketAddr>,
    /// The work dir.
    pub work_dir: PathBuf,
    /// The CP certificate (`<work dir>/kuma-cp.crt`), which clients trust.
    pub ca: PathBuf,
    /// The zone's store.
    pub store: Store,
    running: Running,
}

/// A global control plane running in this process.
pub struct Global {
    /// `http://localhost:<port>`: the API over HTTP, where the test is the local admin.
    pub api: String,
    /// The runtime's listeners (API over HTTP and HTTPS, diagnostics).
    pub addresses: Addresses,
    /// KDS.
    pub kds: SocketAddr,
    /// The work dir.
    pub work_dir: PathBuf,
    /// The CP certificate (`<work dir>/kuma-cp.crt`), which clients trust.
    pub ca: PathBuf,
    /// The global's store.
    pub store: Store,
    running: Running,
}

impl Running {
    fn spawn(
        run: impl Future<Output = anyhow::Result<()>> + Send + 'static,
        trigger: Trigger,
    ) -> Self {
        Self { trigger, task: tokio::spawn(run) }
    }

    async fn stop(self) {
        self.trigger.fire();
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => panic!("the control plane failed: {err:#}"),
            Err(err) => panic!("the control plane task panicked: {err}"),
        }
    }
}

impl Zone {
    /// A zone with the test configuration in `work_dir` and `env` on top.
    pub async fn start(work_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_with(config(work_dir, env)).await
    }

    /// A zone with `config`.
    pub async fn start_with(config: CpConfig) -> Self {
        let work_dir = config.general.work_dir.clone();
        let app = zone::App::build(config).await.unwrap_or_else(|err| panic!("zone: {err:#}"));
        let addresses = app.addresses();
        let (dp_server, mads) = (app.dp_server_addr(), app.mads_addr());
        let store = app.store().clone();
        let (trigger, shutdown) = shutdown::channel();
        Self {
            api: http_url(addresses),
            addresses,
            dp_server,
            mads,
            ca: work_dir.join(kuma_core::tls::CP_CERT_FILE),
            work_dir,
            store,
            running: Running::spawn(app.run(shutdown), trigger),
        }
    }

    /// `https://localhost:<port>`: the API over HTTPS.
    pub fn https(&self) -> String {
        https_url(self.addresses)
    }

    /// `http(s)://localhost:<port>`: the diagnostics server.
    pub fn diagnostics(&self) -> String {
        format!("http://localhost:{}", self.addresses.diagnostics.port())
    }

    /// Stops the zone and waits until it has; panics if it failed.
    pub async fn stop(self) {
        self.running.stop().await;
    }
}

impl Global {
    /// A global with the test configuration in `work_dir`, `KUMA_MODE=global` and `env` on top.
    pub async fn start(work_dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut vars = vec![("KUMA_MODE", "global")];
        vars.extend_from_slice(env);
        Self::start_with(config(work_dir, &vars)).await
    }

    /// A global with `config`.
    pub async fn start_with(config: CpConfig) -> Self {
        let work_dir = config.general.work_dir.clone();
        let app = global::App::build(config).await.unwrap_or_else(|err| panic!("global: {err:#}"));
        let addresses = app.addresses();
        let store = app.store().clone();
        let (trigger, shutdown) = shutdown::channel();
        Self {
            api: http_url(addresses.runtime),
            addresses: addresses.runtime,
            kds: addresses.kds,
            ca: work_dir.join(kuma_core::tls::CP_CERT_FILE),
            work_dir,
            store,
            running: Running::spawn(app.run(shutdown), trigger),
        }
    }

    /// `https://localhost:<port>`: the API over HTTPS.
    pub fn https(&self) -> String {
        https_url(self.addresses)
    }

    /// `http://localhost:<port>`: the diagnostics server.
    pub fn diagnostics(&self) -> String {
        format!("http://localhost:{}", self.addresses.diagnostics.port())
    }

    /// `grpcs://localhost:<port>`: KDS, as a zone's `KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS`.
    pub fn kds_address(&self) -> String {
        format!("grpcs://localhost:{}", self.kds.port())
    }

    /// Stops the global and waits until it has; panics if it failed.
    pub async fn stop(self) {
        self.running.stop().await;
    }
}

fn http_url(addresses: Addresses) -> String {
    match addresses.http {
        Some(addr) => format!("http://localhost:{}", addr.port()),
        None => String::new(),
    }
}

fn https_url(addresses: Addresses) -> String {
    match addresses.https {
        Some(addr) => format!("https://localhost:{}", addr.port()),
        None => panic!("the HTTPS API is disabled"),
    }
}
