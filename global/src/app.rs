//! `App`: builds the global control plane from its configuration, then runs it.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use kuma_core::shutdown::Shutdown;
use shared::config::{CpConfig, Mode};
use shared::runtime::{self, Runtime};
use store::Store;

use crate::kds::Kds;

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
    kds: Kds,
}

impl App {
    /// Checks the mode, opens the store and binds every listener.
    pub async fn build(config: CpConfig) -> anyhow::Result<Self> {
        if config.mode != Mode::Global {
            bail!("the global control plane needs KUMA_MODE=global, got {}", config.mode.as_str());
        }
        let runtime = Runtime::build(config).await.context("starting the global control plane")?;
        let kds = Kds::bind(&runtime).await?;
        Ok(Self { runtime, kds })
    }

    /// Where the listeners are bound.
    pub fn addresses(&self) -> Addresses {
        Addresses { runtime: self.runtime.addresses(), kds: self.kds.local_addr() }
    }

    /// The store this control plane serves from (a handle; cloning it is cheap).
    pub fn store(&self) -> &Store {
        self.runtime.store()
    }

    /// Serves until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let store = self.runtime.store().clone();
        let instance_id = self.runtime.instance_id().to_owned();
        // Logged before the runtime reports ready, so "ready" means every listener is up.
        tracing::info!(addr = %self.kds.local_addr(), "KDS server listening");
        let kds = tokio::spawn(self.kds.serve(store, instance_id, shutdown.clone()));
        self.runtime.run(shutdown).await;
        kds.await.context("the KDS server task failed")?
    }
}
