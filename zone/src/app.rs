//! `App`: builds the zone control plane from its configuration, then runs it.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::{Context, bail};
use kuma_core::shutdown::Shutdown;
use shared::config::{CpConfig, Mode};
use shared::runtime::{Addresses, Runtime};
use store::Store;

use crate::dataplanes;
use crate::dp_server::DpServer;
use crate::kds::KdsClient;
use crate::mads::Mads;

/// A zone control plane whose listeners are bound.
pub struct App {
    runtime: Runtime,
    dp_server: SocketAddr,
    mads: Option<SocketAddr>,
}

impl App {
    /// Checks the mode, opens the store, binds every listener and adds the zone's own routes
    /// (dataplane overviews) and tasks (the DP server, MADS, the KDS client) to the runtime.
    pub async fn build(config: CpConfig) -> anyhow::Result<Self> {
        if config.mode != Mode::Zone {
            bail!(
                "the zone control plane needs KUMA_MODE=zone (or standalone), got {}",
                config.mode.as_str()
            );
        }
        let mut runtime =
            Runtime::build(config).await.context("starting the zone control plane")?;
        runtime.add_routes(dataplanes::routes());
        let status = runtime.services().kds_status.clone();
        let kds = KdsClient::new(runtime.config(), runtime.store().clone(), status)?;
        let dp_server = DpServer::bind(&runtime).await?;
        runtime.add_routes(dp_server.api_routes());
        let mads = Mads::bind(&runtime).await?;
        let (store, instance_id) = (runtime.store().clone(), runtime.instance_id().to_owned());

        let dp_server_addr = dp_server.local_addr();
        // Logged before the runtime reports ready, as the global logs its KDS address.
        tracing::info!(addr = %dp_server_addr, "DP server listening");
        let dp_store = store.clone();
        runtime.add_task("DP server", move |shutdown| {
            dp_server.serve(dp_store, instance_id, shutdown)
        });
        let mads_addr = match mads {
            Some(mads) => {
                let addr = mads.local_addr();
                tracing::info!(%addr, "monitoring assignment server listening");
                runtime.add_task("monitoring assignment server", move |shutdown| async move {
                    mads.serve(store, shutdown).await;
                    Ok::<_, Infallible>(())
                });
                Some(addr)
            }
            None => None,
        };
        if let Some(client) = kds {
            runtime.add_task("KDS client", move |shutdown| async move {
                client.run(shutdown).await;
                Ok::<_, Infallible>(())
            });
        }
        Ok(Self { runtime, dp_server: dp_server_addr, mads: mads_addr })
    }

    /// Where the listeners are bound.
    pub fn addresses(&self) -> Addresses {
        self.runtime.addresses()
    }

    /// Where the DP server listens.
    pub fn dp_server_addr(&self) -> SocketAddr {
        self.dp_server
    }

    /// Where the monitoring assignment server listens (`None` when it is disabled).
    pub fn mads_addr(&self) -> Option<SocketAddr> {
        self.mads
    }

    /// The store this control plane serves from (a handle; cloning it is cheap).
    pub fn store(&self) -> &Store {
        self.runtime.store()
    }

    /// Serves until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        self.runtime.run(shutdown).await.context("running the zone control plane")
    }
}
