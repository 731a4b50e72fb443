//! `App`: builds the zone control plane from its configuration, then runs it.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use kuma_core::shutdown::Shutdown;
use shared::config::{CpConfig, Mode};
use shared::runtime::{Addresses, Runtime};
use store::Store;

use crate::dp_server::DpServer;
use crate::kds::KdsClient;
use crate::mads::Mads;

/// A zone control plane whose listeners are bound.
pub struct App {
    runtime: Runtime,
    kds: Option<KdsClient>,
    dp_server: DpServer,
    mads: Option<Mads>,
}

impl App {
    /// Checks the mode, opens the store and binds every listener.
    pub async fn build(config: CpConfig) -> anyhow::Result<Self> {
        if config.mode != Mode::Zone {
            bail!(
                "the zone control plane needs KUMA_MODE=zone (or standalone), got {}",
                config.mode.as_str()
            );
        }
        let mut runtime =
            Runtime::build(config).await.context("starting the zone control plane")?;
        let status = runtime.services().kds_status.clone();
        let kds = KdsClient::new(runtime.config(), runtime.store().clone(), status)?;
        let dp_server = DpServer::bind(&runtime).await?;
        runtime.extend_api(dp_server.api_routes());
        let mads = Mads::bind(&runtime).await?;
        Ok(Self { runtime, kds, dp_server, mads })
    }

    /// Where the listeners are bound.
    pub fn addresses(&self) -> Addresses {
        self.runtime.addresses()
    }

    /// Where the DP server listens.
    pub fn dp_server_addr(&self) -> SocketAddr {
        self.dp_server.local_addr()
    }

    /// Where the monitoring assignment server listens (`None` when it is disabled).
    pub fn mads_addr(&self) -> Option<SocketAddr> {
        self.mads.as_ref().and_then(|m| m.local_addr().ok())
    }

    /// The store this control plane serves from (a handle; cloning it is cheap).
    pub fn store(&self) -> &Store {
        self.runtime.store()
    }

    /// Serves until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let kds = self.kds.map(|client| tokio::spawn(client.run(shutdown.clone())));
        let store = self.runtime.store().clone();
        let instance_id = self.runtime.instance_id().to_owned();
        // Logged before the runtime reports ready, as the global logs its KDS address.
        tracing::info!(addr = %self.dp_server.local_addr(), "DP server listening");
        let mads = self.mads.map(|mads| {
            if let Ok(addr) = mads.local_addr() {
                tracing::info!(%addr, "monitoring assignment server listening");
            }
            tokio::spawn(mads.serve(store.clone(), shutdown.clone()))
        });
        let dp_server = tokio::spawn(self.dp_server.serve(store, instance_id, shutdown.clone()));
        self.runtime.run(shutdown).await;
        dp_server.await.context("the DP server task failed")??;
        if let Some(mads) = mads {
            mads.await.context("the monitoring assignment server task failed")?;
        }
        if let Some(kds) = kds {
            kds.await.context("the KDS client task failed")?;
        }
        Ok(())
    }
}
