//! `kuma-dp run`: makes the key, binds the admin endpoint, and runs the session until a fatal
//! error or SIGINT/SIGTERM.
//!
//! It only wires the parts together; it must not speak the protocol itself.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use kuma_core::net::ChannelSettings;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};

use crate::admin;
use crate::cli::{CaSource, RunConfig};
use crate::session;

/// Runs kuma-dp; returns on a signal (Ok) or an error that retrying cannot fix.
pub async fn run(config: RunConfig) -> anyhow::Result<()> {
    // `connect` reads roots from a file: PEM text goes to a temporary one (public data only).
    let (root_ca, _ca_file) = match &config.ca {
        CaSource::File(path) => (path.clone(), None),
        CaSource::Pem(pem) => {
            let file = tempfile::NamedTempFile::new().context("writing the CA to a temp file")?;
            std::fs::write(file.path(), pem).context("writing the CA to a temp file")?;
            (file.path().to_owned(), Some(file))
        }
    };
    let settings = ChannelSettings {
        address: config.grpc_address.clone(),
        root_ca: Some(root_ca),
        skip_verify: false,
        identity: None,
        local_ip: None,
    };
    // In memory only: the control plane never sees it, nothing writes it.
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating the key")?;
    let status: admin::Shared = Arc::new(Mutex::new(admin::Status::default()));
    let listener = tokio::net::TcpListener::bind(config.admin_addr)
        .await
        .with_context(|| format!("binding the admin endpoint on {}", config.admin_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "admin listening");
    let admin = axum::serve(listener, admin::router(status.clone()));
    tokio::select! {
        result = session::run(&config, &settings, &key, &status) => Ok(result?),
        result = admin => result.context("serving the admin endpoint"),
        () = kuma_core::process::termination_signal() => Ok(()),
    }
}
