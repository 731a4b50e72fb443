//! `App`: builds the global control plane from its configuration, then runs it.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use kuma_core::shutdown::Shutdown;
use shared::config::{CpConfig, Mode};
use shared::runtime::{self, Runtime};
use store::Store;

use crate::kds::Kds;
use crate::zones;

/// Where a global's listeners are bound.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    /// API, diagnostics.
    pub runtime: runtime::Addresses,
    /// KDS (gRPC, TLS unless disabled).
    pub kds: SocketAddr,
}

/// A global control plane whose listeners are bound.
pub struct App {
    runtime: Runtime,
    kds: SocketAddr,
}

impl App {
    /// Checks the mode, opens the store, binds every listener and adds the global's own routes
    /// (the zones registry) and tasks (the KDS server) to the runtime.
    pub async fn build(config: CpConfig) -> anyhow::Result<Self> {
        if config.mode != Mode::Global {
            bail!("the global control plane needs KUMA_MODE=global, got {}", config.mode.as_str());
        }
        let mut runtime =
            Runtime::build(config).await.context("starting the global control plane")?;
        runtime.add_routes(zones::api::routes());
        let kds = Kds::bind(&runtime).await?;
        let addr = kds.local_addr();
        let (store, instance_id) = (runtime.store().clone(), runtime.instance_id().to_owned());
        // Logged before the runtime reports ready, so "ready" means every listener is up.
        tracing::info!(%addr, "KDS server listening");
        runtime.add_task("KDS server", move |shutdown| kds.serve(store, instance_id, shutdown));
        Ok(Self { runtime, kds: addr })
    }

    /// Where the listeners are bound.
    pub fn addresses(&self) -> Addresses {
        Addresses { runtime: self.runtime.addresses(), kds: self.kds }
    }

    /// The store this control plane serves from (a handle; cloning it is cheap).
    pub fn store(&self) -> &Store {
        self.runtime.store()
    }

    /// Serves until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        self.runtime.run(shutdown).await.context("running the global control plane")
    }
}
