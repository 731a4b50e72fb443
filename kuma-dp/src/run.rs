//! `kuma-dp run`: checks Envoy, prepares the work directory, makes the key, starts the SDS
//! server, the readiness endpoint and the session, writes the bootstrap and runs Envoy; then
//! waits for SIGINT/SIGTERM (drain, stop Envoy, exit 0), Envoy's exit or a fatal session error
//! (exit non-zero, saying why).
//!
//! It only wires the parts together; it must not speak a protocol itself. kuma-dp never runs
//! without its Envoy: when one of them stops, both do.

use anyhow::Context;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use shared::net::ChannelSettings;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::cli::{CaSource, ProxyType, RunConfig};
use crate::envoy::binary::Binary;
use crate::envoy::bootstrap::{self, Bootstrap};
use crate::envoy::process::Envoy;
use crate::envoy::{self, Admin};
use crate::readiness::{Readiness, Status};
use crate::workdir::{self, WorkDir};
use crate::{sds, session};

/// Runs kuma-dp; returns Ok after a signal and a clean drain, Err when Envoy or the session
/// stopped it.
pub async fn run(config: RunConfig) -> anyhow::Result<()> {
    let binary = Binary::find(&config.envoy.binary, &config.envoy.search_dirs).await?;
    tracing::info!(path = %binary.path.display(), version = %binary.version, "found Envoy");
    if config.dns_enabled {
        tracing::warn!("--dns-enabled: kuma-rs has no DNS proxy; the flag is ignored");
    }
    let work_dir = WorkDir::create(config.work_dir.as_deref())?;
    let ca_pem = match &config.ca {
        CaSource::File(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading --ca-cert-file {}", path.display()))?,
        CaSource::Pem(pem) => pem.clone(),
    };
    // `connect` reads roots from a file: PEM text goes to one in the work dir (public data).
    let root_ca = match &config.ca {
        CaSource::File(path) => path.clone(),
        CaSource::Pem(pem) => {
            let path = work_dir.path().join("cp-ca.crt");
            std::fs::write(&path, pem).context("writing the CA to the work directory")?;
            path
        }
    };
    let token = config.token.read()?;
    let settings = ChannelSettings {
        address: config.grpc_address.clone(),
        root_ca: Some(root_ca),
        skip_verify: false,
        identity: None,
        local_ip: None,
    };
    // In memory only: the control plane never sees it; Envoy gets it over the 0600 SDS socket.
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
    let listener = tokio::net::TcpListener::bind(config.readiness_addr)
        .await
        .with_context(|| format!("binding the readiness endpoint on {}", config.readiness_addr))?;
    let readiness_addr = listener.local_addr()?;
    tracing::info!(addr = %readiness_addr, "readiness listening");
    let mut readiness_task =
        tokio::spawn(axum::serve(listener, readiness.clone().router()).into_future());

    let document = Bootstrap::new(&bootstrap::Params {
        node_id: format!("{}.{}", config.mesh, config.name),
        node_cluster: node_cluster(&config),
        metadata: metadata(&config, &work_dir, &binary, readiness_addr.port()),
        admin_socket: admin.socket(),
        sds_socket: &sds_socket,
        cp_host: &config.host,
        cp_port: config.port,
        cp_ca_pem: &ca_pem,
        token: &token,
        ads: config.envoy.ads,
    });
    let bootstrap_path = work_dir.bootstrap();
    workdir::write_private(&bootstrap_path, &document.to_yaml()?)
        .with_context(|| format!("writing {}", bootstrap_path.display()))?;

    let mut session: JoinHandle<Result<(), session::Fatal>> = {
        let config = config.clone();
        tokio::spawn(async move { session::run(&config, &settings, &key, &status).await })
    };
    let mut envoy = Envoy::spawn(&binary.path, &bootstrap_path, &config.envoy)
        .with_context(|| format!("starting Envoy {}", binary.path.display()))?;
    tracing::info!(
        pid = envoy.pid(),
        admin = %admin.socket().display(),
        sds = %sds_socket.display(),
        "Envoy started"
    );

    let event = tokio::select! {
        exit = envoy.wait() => Event::EnvoyExited(exit),
        result = &mut session => Event::SessionEnded(result),
        result = &mut readiness_task => Event::ReadinessEnded(result),
        () = shared::process::termination_signal() => Event::Signal,
    };
    let outcome = match event {
        Event::EnvoyExited(exit) => Err(anyhow::anyhow!("{exit}")),
        Event::SessionEnded(result) => {
            let cause = match result {
                Ok(Ok(())) => anyhow::anyhow!("the session with the control plane ended"),
                Ok(Err(fatal)) => anyhow::Error::new(fatal),
                Err(join) => anyhow::Error::new(join).context("the session task failed"),
            };
            Err(stop(envoy, cause).await)
        }
        Event::ReadinessEnded(result) => {
            let cause = match result {
                Ok(Err(e)) => anyhow::Error::new(e).context("serving the readiness endpoint"),
                Ok(Ok(())) => anyhow::anyhow!("the readiness endpoint stopped"),
                Err(join) => anyhow::Error::new(join).context("the readiness task failed"),
            };
            Err(stop(envoy, cause).await)
        }
        Event::Signal => {
            drain(envoy, &admin, &readiness, &config.envoy).await;
            Ok(())
        }
    };
    session.abort();
    readiness_task.abort();
    let _ = stop_sds.send(());
    let _ = sds.await;
    drop(work_dir);
    outcome
}

/// What ended the main wait.
enum Event {
    EnvoyExited(envoy::process::Exit),
    SessionEnded(Result<Result<(), session::Fatal>, tokio::task::JoinError>),
    ReadinessEnded(Result<std::io::Result<()>, tokio::task::JoinError>),
    Signal,
}

/// Stops Envoy because kuma-dp must stop; returns `cause` to report.
async fn stop(envoy: Envoy, cause: anyhow::Error) -> anyhow::Error {
    let exit = envoy.stop().await;
    tracing::info!(%exit, "stopped Envoy");
    cause
}

/// Readiness fails, Envoy fails its health checks and drains for the drain time (a second
/// signal cuts that short), then it is stopped.
async fn drain(mut envoy: Envoy, admin: &Admin, readiness: &Readiness, config: &envoy::Config) {
    readiness.terminate();
    match admin.post("/healthcheck/fail").await {
        Ok((status, _)) if status.is_success() => {
            tracing::info!("Envoy now fails its health checks");
        }
        Ok((status, body)) => {
            tracing::warn!(%status, body = %body.trim(), "Envoy refused /healthcheck/fail")
        }
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot fail Envoy's health checks"),
    }
    tracing::info!(drain_time = ?config.drain_time, "draining Envoy");
    tokio::select! {
        () = tokio::time::sleep(config.drain_time) => {}
        () = shared::process::termination_signal() => tracing::info!("second signal; stopping now"),
        exit = envoy.wait() => {
            tracing::warn!(%exit, "Envoy exited while draining");
            return;
        }
    }
    let exit = envoy.stop().await;
    tracing::info!(%exit, "Envoy stopped");
}

/// The first `kuma.io/service` of the inline Dataplane (`ingress` for a zone ingress).
fn node_cluster(config: &RunConfig) -> Option<String> {
    if config.proxy_type == ProxyType::Ingress {
        return Some("ingress".to_owned());
    }
    let resource: Value = serde_json::from_str(&config.resource_json).ok()?;
    let networking = &resource["networking"];
    let tags = networking["inbound"].get(0).map_or(&networking["gateway"], |i| i)["tags"].clone();
    tags["kuma.io/service"].as_str().map(str::to_owned)
}

/// Node metadata in Kuma's keys, for the control plane's generator.
fn metadata(
    config: &RunConfig,
    work_dir: &WorkDir,
    binary: &Binary,
    readiness_port: u16,
) -> Map<String, Value> {
    let proxy_type = match config.proxy_type {
        ProxyType::Dataplane => "dataplane",
        ProxyType::Ingress => "ingress",
    };
    let mut dataplane = json!({
        "proxyType": proxy_type,
        "admin": {"socketPath": work_dir.admin_socket()},
        "readinessReporter": {"port": readiness_port.to_string()},
        "sdsSocketPath": work_dir.sds_socket(),
    });
    if !config.resource_json.is_empty() {
        dataplane["resource"] = Value::String(config.resource_json.clone());
    }
    let version = json!({
        "kumaDp": {"version": env!("CARGO_PKG_VERSION")},
        "envoy": {"version": binary.version.to_string(), "build": binary.build},
    });
    Map::from_iter([
        ("dataplane".to_owned(), dataplane),
        ("version".to_owned(), version),
        ("workdir".to_owned(), json!(work_dir.path())),
    ])
}
