//! `kuma-dp run`: checks Envoy, prepares the work directory, makes the key, starts the SDS
//! server, the readiness endpoint and the session, writes the bootstrap and runs Envoy; then
//! waits for SIGINT/SIGTERM (drain, stop Envoy, exit 0), Envoy's exit or a fatal session error
//! (exit non-zero, saying why).
//!
//! It only wires the parts together; it must not speak a protocol itself. kuma-dp never runs
//! without its Envoy: when one of them stops, both do.

use std::path::PathBuf;

use anyhow::Context;
use kuma_core::net::ChannelSettings;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use secrecy::SecretString;
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinError, JoinHandle};

use crate::cli::{CaSource, RunConfig};
use crate::envoy::binary::Binary;
use crate::envoy::bootstrap::{self, Bootstrap};
use crate::envoy::node::{self, Node};
use crate::envoy::process::{Envoy, Exit};
use crate::envoy::{self, Admin};
use crate::readiness::{Readiness, Status};
use crate::workdir::{self, WorkDir};
use crate::{sds, session};

/// Everything a running kuma-dp holds; dropping it removes a temporary work directory.
struct Proxy {
    envoy: Envoy,
    admin: Admin,
    readiness: Readiness,
    readiness_task: JoinHandle<std::io::Result<()>>,
    session: JoinHandle<Result<(), session::Fatal>>,
    sds: JoinHandle<Result<(), tonic::transport::Error>>,
    stop_sds: oneshot::Sender<()>,
    envoy_config: envoy::Config,
    _work_dir: WorkDir,
}

/// What ended the main wait.
enum Event {
    EnvoyExited(Exit),
    SessionEnded(Result<Result<(), session::Fatal>, JoinError>),
    ReadinessEnded(Result<std::io::Result<()>, JoinError>),
    Signal,
}

/// Runs kuma-dp; returns Ok after a signal and a clean drain, Err when Envoy or the session
/// stopped it.
pub async fn run(config: RunConfig) -> anyhow::Result<()> {
    Proxy::start(config).await?.run().await
}

impl Proxy {
    async fn start(config: RunConfig) -> anyhow::Result<Self> {
        let binary = Binary::find(&config.envoy.binary, &config.envoy.search_dirs).await?;
        tracing::info!(path = %binary.path.display(), version = %binary.version, "found Envoy");
        if config.dns_enabled {
            tracing::warn!("--dns-enabled: kuma-rs has no DNS proxy; the flag is ignored");
        }
        let work_dir = WorkDir::create(config.work_dir.as_deref())?;
        let (ca_pem, root_ca) = cp_ca(&config, &work_dir)?;
        let token = session::token(&config)?;
        // In memory only: the CP never sees it; Envoy gets it over the 0600 SDS socket.
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating the key")?;
        let key_pem = SecretString::from(key.serialize_pem());
        let (status, status_rx) = watch::channel(Status::default());

        let sds_socket = work_dir.sds_socket();
        let sds_listener = sds::bind_private(&sds_socket)
            .await
            .with_context(|| format!("binding the SDS socket {}", sds_socket.display()))?;
        let source = sds::Source::new(&config.mesh, key_pem, status_rx.clone());
        let (stop_sds, sds_stopped) = oneshot::channel::<()>();
        let sds = tokio::spawn(sds::serve(sds_listener, source, async {
            let _ = sds_stopped.await;
        }));

        let admin = Admin::new(&work_dir.admin_socket());
        let readiness = Readiness::new(status_rx, admin.clone());
        let addr = config.readiness_addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the readiness endpoint on {addr}"))?;
        let readiness_port = listener.local_addr()?.port();
        tracing::info!(addr = %listener.local_addr()?, "readiness listening");
        let readiness_task =
            tokio::spawn(axum::serve(listener, readiness.clone().router()).into_future());

        let local = node::Local {
            work_dir: work_dir.path(),
            admin_socket: admin.socket(),
            sds_socket: &sds_socket,
            readiness_port,
        };
        let node = Node::new(&config, &binary, local);
        let bootstrap = Bootstrap::new(&bootstrap::Params {
            node: &node,
            admin_socket: admin.socket(),
            sds_socket: &sds_socket,
            cp_host: &config.host,
            cp_port: config.port,
            cp_ca_pem: &ca_pem,
            token: &token,
            ads: config.envoy.ads,
        });
        let bootstrap_path = work_dir.bootstrap();
        workdir::write_private(&bootstrap_path, &bootstrap.to_yaml()?)
            .with_context(|| format!("writing {}", bootstrap_path.display()))?;

        let settings = ChannelSettings {
            address: config.grpc_address.clone(),
            root_ca: Some(root_ca),
            skip_verify: false,
            identity: None,
            local_ip: None,
        };
        let session_config = config.clone();
        let session =
            tokio::spawn(
                async move { session::run(&session_config, &settings, &key, &status).await },
            );
        let envoy = Envoy::spawn(&binary.path, &bootstrap_path, &config.envoy)
            .with_context(|| format!("starting Envoy {}", binary.path.display()))?;
        tracing::info!(
            pid = envoy.pid(),
            admin = %admin.socket().display(),
            sds = %sds_socket.display(),
            "Envoy started"
        );
        Ok(Self {
            envoy,
            admin,
            readiness,
            readiness_task,
            session,
            sds,
            stop_sds,
            envoy_config: config.envoy,
            _work_dir: work_dir,
        })
    }

    /// Until a signal (drain, then Ok) or until Envoy, the session or the readiness endpoint
    /// ends (Err saying why, with Envoy stopped).
    async fn run(mut self) -> anyhow::Result<()> {
        let event = tokio::select! {
            exit = self.envoy.wait() => Event::EnvoyExited(exit),
            result = &mut self.session => Event::SessionEnded(result),
            result = &mut self.readiness_task => Event::ReadinessEnded(result),
            () = kuma_core::process::termination_signal() => Event::Signal,
        };
        let (signalled, envoy_gone) =
            (matches!(event, Event::Signal), matches!(event, Event::EnvoyExited(_)));
        let outcome = match event {
            Event::EnvoyExited(exit) => Err(anyhow::anyhow!("{exit}")),
            Event::SessionEnded(result) => Err(match result {
                Ok(Ok(())) => anyhow::anyhow!("the session with the control plane ended"),
                Ok(Err(fatal)) => anyhow::Error::new(fatal),
                Err(join) => anyhow::Error::new(join).context("the session task failed"),
            }),
            Event::ReadinessEnded(result) => Err(match result {
                Ok(Err(e)) => anyhow::Error::new(e).context("serving the readiness endpoint"),
                Ok(Ok(())) => anyhow::anyhow!("the readiness endpoint stopped"),
                Err(join) => anyhow::Error::new(join).context("the readiness task failed"),
            }),
            Event::Signal => Ok(()),
        };
        if signalled {
            self.drain().await;
        } else if !envoy_gone {
            let exit = self.envoy.stop().await;
            tracing::info!(%exit, "stopped Envoy");
        }
        self.session.abort();
        self.readiness_task.abort();
        let _ = self.stop_sds.send(());
        let _ = self.sds.await;
        outcome
    }

    /// Readiness fails, Envoy fails its health checks and drains for the drain time (a second
    /// signal cuts that short), then it is stopped.
    async fn drain(&mut self) {
        self.readiness.terminate();
        match self.admin.post("/healthcheck/fail").await {
            Ok((status, _)) if status.is_success() => {
                tracing::info!("Envoy now fails its health checks");
            }
            Ok((status, body)) => {
                tracing::warn!(%status, body = %body.trim(), "Envoy refused /healthcheck/fail");
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot fail Envoy's health checks")
            }
        }
        let drain_time = self.envoy_config.drain_time;
        tracing::info!(?drain_time, "draining Envoy");
        tokio::select! {
            () = tokio::time::sleep(drain_time) => {}
            () = kuma_core::process::termination_signal() => tracing::info!("second signal; stopping now"),
            exit = self.envoy.wait() => {
                tracing::warn!(%exit, "Envoy exited while draining");
                return;
            }
        }
        let exit = self.envoy.stop().await;
        tracing::info!(%exit, "Envoy stopped");
    }
}

/// The CP's CA as PEM (for the bootstrap) and as a file (for the session's connector, which
/// reads roots from a file: PEM text goes to one in the work dir; it is public data).
fn cp_ca(config: &RunConfig, work_dir: &WorkDir) -> anyhow::Result<(String, PathBuf)> {
    match &config.ca {
        CaSource::File(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading --ca-cert-file {}", path.display()))?;
            Ok((pem, path.clone()))
        }
        CaSource::Pem(pem) => {
            let path = work_dir.path().join("cp-ca.crt");
            std::fs::write(&path, pem).context("writing the CA to the work directory")?;
            Ok((pem.clone(), path))
        }
    }
}
