//! `DataplaneService.Session`: one stream per proxy. The handler authenticates before answering
//! (token header, Hello, Dataplane lookup or registration, token check), then a task per stream
//! serves CSRs, asks for new ones when the Dataplane's tags or the Mesh's mTLS change, and ends
//! the stream when the token stops being valid (checked after every change of its mesh's Secrets
//! or of a GlobalSecret, which the dispatcher reports, and at its expiry). It never holds a
//! private key.

use std::pin::Pin;
use std::time::Duration;

use kuma_core::error::Chain;
use kuma_core::resources::CaBackend;
use kuma_core::resources::insight::rfc3339;
use kuma_core::shutdown::Shutdown;
use proto::kumars::dp::v1 as pb;
use proto::kumars::dp::v1::cp_message::Kind as CpKind;
use proto::kumars::dp::v1::dp_message::Kind as DpKind;
use shared::net::ConnInfo;
use store::Store;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::auth::Authenticator;
use super::dataplane::{self, Dataplane};
use super::dispatch::Dispatcher;
use super::insight::{self, Subscription};
use super::issue;

/// Messages buffered towards one proxy.
pub(super) const STREAM_BUFFER: usize = 16;
/// What a proxy is told when its certificate could not be issued for a reason of the control
/// plane's (the detail goes to the log): stable, and free of internal names and paths.
pub(super) const ISSUE_FAILED: &str =
    "the control plane could not issue a certificate; it logged why, retry later";
/// How long a proxy may take to send its Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) type Outbound = Pin<Box<dyn Stream<Item = Result<pb::CpMessage, Status>> + Send>>;

/// The service; cloned into every stream's task.
#[derive(Clone)]
pub struct DpService {
    pub(super) store: Store,
    pub(super) auth: Authenticator,
    pub(super) instance_id: String,
    pub(super) dispatcher: Dispatcher,
    pub(super) insights: insight::Writer,
    pub(super) shutdown: Shutdown,
}

/// An authenticated proxy.
struct Session {
    /// Random id of the session (its DataplaneInsight subscription id).
    id: String,
    dp: Dataplane,
    token: Option<String>,
    expires: Option<OffsetDateTime>,
    source: String,
    version: String,
}

#[tonic::async_trait]
impl pb::dataplane_service_server::DataplaneService for DpService {
    type SessionStream = Outbound;

    async fn session(
        &self,
        request: Request<Streaming<pb::DpMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let source = request
            .extensions()
            .get::<ConnInfo>()
            .map(|i| i.remote_addr.to_string())
            .unwrap_or_default();
        let metadata = request.metadata().clone();
        let mut inbound = request.into_inner();
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
            Err(_) => return Err(Status::deadline_exceeded("no Hello received")),
            Ok(message) => match message?.and_then(|m| m.kind) {
                Some(DpKind::Hello(hello)) => hello,
                _ => return Err(Status::invalid_argument("the first message must be a Hello")),
            },
        };
        let ingress = hello.proxy_type() == pb::ProxyType::Ingress;
        let token = self.auth.token(&metadata, ingress, &source)?;
        if ingress {
            return self.ingress_session(hello, token, source, inbound).await;
        }
        let dp = self.resolve(&hello, token.as_deref(), &source).await?;
        let expires = self.auth.check(token.as_deref(), &dp.subject(), &source).await?;
        tracing::info!(mesh = %dp.mesh, name = %dp.name, %source, "data plane proxy authenticated");
        let id = uuid::Uuid::new_v4().to_string();
        let session = Session { id, dp, token, expires, source, version: hello.version };
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let this = self.clone();
        tokio::spawn(async move { this.run(session, inbound, tx).await });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

impl DpService {
    /// The Dataplane of the Hello: stored, or registered from `resource_json`. Replacing a
    /// stored one needs a token that also authenticates against the stored one.
    async fn resolve(
        &self,
        hello: &pb::Hello,
        token: Option<&str>,
        source: &str,
    ) -> Result<Dataplane, Status> {
        let stored = dataplane::get(&self.store, &hello.mesh, &hello.name).await?;
        if hello.resource_json.is_empty() {
            return stored.ok_or_else(|| {
                Status::not_found(format!(
                    "resource {:?} not found; create a Dataplane in Kuma CP first or pass it as \
                     an argument to kuma-dp",
                    format!("{}.{}", hello.mesh, hello.name)
                ))
            });
        }
        let given = dataplane::parse(&hello.resource_json, &hello.mesh, &hello.name)?;
        if let Some(existing) = &stored {
            if existing.spec == given.spec && existing.labels == given.labels {
                return Ok(stored.unwrap_or(given));
            }
            self.auth.check(token, &existing.subject(), source).await?;
        }
        self.auth.check(token, &given.subject(), source).await?;
        dataplane::upsert(&self.store, given, stored.map(|s| s.version)).await
    }

    async fn run(
        self,
        mut session: Session,
        inbound: Streaming<pb::DpMessage>,
        tx: mpsc::Sender<Result<pb::CpMessage, Status>>,
    ) {
        let (mesh, name) = (session.dp.mesh.clone(), session.dp.name.clone());
        let metrics = self.auth.metrics.clone();
        metrics.dp_connected(1);
        let id = session.id.clone();
        let mut version = std::collections::BTreeMap::new();
        if !session.version.is_empty() {
            let kuma_dp = serde_json::json!({ "version": session.version });
            version.insert("kumaDp".to_owned(), kuma_dp);
        }
        let subscription = Subscription {
            id: id.clone(),
            control_plane_instance_id: self.instance_id.clone(),
            connect_time: rfc3339(OffsetDateTime::now_utc()),
            disconnect_time: None,
            version,
            status: None,
        };
        self.insights.connected(&mesh, &name, subscription);
        let end = self.serve(&mut session, inbound, &tx).await;
        match end {
            Ok(()) => tracing::info!(%mesh, %name, "data plane proxy disconnected"),
            Err(status) if kuma_core::net::peer_went_away(&status) => {
                tracing::info!(%mesh, %name, "data plane proxy disconnected");
            }
            Err(status) => {
                tracing::info!(%mesh, %name, %status, "closing the data plane proxy's stream");
                let _ = tx.send(Err(status)).await;
            }
        }
        metrics.dp_connected(-1);
        metrics.dp_certificate_held(&id, None);
        self.insights.disconnected(&mesh, &name, &id);
    }

    async fn serve(
        &self,
        session: &mut Session,
        mut inbound: Streaming<pb::DpMessage>,
        tx: &mpsc::Sender<Result<pb::CpMessage, Status>>,
    ) -> Result<(), Status> {
        let watch = self.dispatcher.watch_dataplane(&session.dp.mesh, &session.dp.name);
        let mut shutdown = self.shutdown.clone();
        let mut backend = self.backend(&session.dp.mesh).await?;
        send(tx, first_message(backend.as_ref(), "initial")).await;
        loop {
            tokio::select! {
                () = shutdown.wait() => return Err(Status::unavailable("the control plane is shutting down")),
                () = expiry(session.expires) => {
                    return Err(self.auth.expired(false, &session.source));
                }
                () = tx.closed() => return Ok(()),
                message = inbound.message() => {
                    let Some(message) = message? else { return Ok(()) };
                    match message.kind {
                        Some(DpKind::Csr(csr)) => self.issue(session, backend.as_ref(), &csr.csr_der, tx).await?,
                        Some(DpKind::Hello(_)) => return Err(Status::invalid_argument("Hello may only be sent once")),
                        None => {}
                    }
                }
                reasons = watch.changed() => {
                    if reasons.token() {
                        let token = session.token.as_deref();
                        self.auth.check(token, &session.dp.subject(), &session.source).await?;
                    }
                    if reasons.dataplane() {
                        self.reload_dataplane(session, tx).await?;
                    }
                    if reasons.mesh() {
                        let now = self.backend(&session.dp.mesh).await?;
                        if now != backend {
                            backend = now;
                            if backend.is_none() {
                                self.auth.metrics.dp_certificate_held(&session.id, None);
                            }
                            send(tx, first_message(backend.as_ref(), "mesh mTLS changed")).await;
                        }
                    }
                }
            }
        }
    }

    /// Reads the proxy's Dataplane again; new tags or labels are checked against the token and
    /// ask for a new certificate.
    async fn reload_dataplane(
        &self,
        session: &mut Session,
        tx: &mpsc::Sender<Result<pb::CpMessage, Status>>,
    ) -> Result<(), Status> {
        let Some(current) = dataplane::get(&self.store, &session.dp.mesh, &session.dp.name).await?
        else {
            // Deleted: the session keeps the last version it knew.
            return Ok(());
        };
        let changed = current.spec != session.dp.spec || current.labels != session.dp.labels;
        session.dp = current;
        if changed {
            let token = session.token.as_deref();
            self.auth.check(token, &session.dp.subject(), &session.source).await?;
            if self.backend(&session.dp.mesh).await?.is_some() {
                send(tx, rotate("dataplane changed")).await;
            }
        }
        Ok(())
    }

    async fn backend(&self, mesh: &str) -> Result<Option<CaBackend>, Status> {
        issue::enabled_backend(&self.store, mesh).await.map_err(|err| {
            tracing::error!(mesh, error = %err, "could not read the mesh's mTLS settings");
            Status::unavailable(format!("could not read the mTLS settings of mesh {mesh:?}"))
        })
    }

    async fn issue(
        &self,
        session: &Session,
        backend: Option<&CaBackend>,
        csr: &[u8],
        tx: &mpsc::Sender<Result<pb::CpMessage, Status>>,
    ) -> Result<(), Status> {
        let Some(backend) = backend else {
            send(tx, CpKind::MtlsDisabled(pb::MtlsDisabled {})).await;
            return Ok(());
        };
        let dp = &session.dp;
        let request = issue::Request { subject: dp.subject(), csr };
        let started = std::time::Instant::now();
        let issued = match issue::issue(&self.auth.credentials, backend, &request).await {
            Ok(issued) => issued,
            Err(issue::Error::Ca(err)) if err.is_request_error() => {
                tracing::warn!(mesh = %dp.mesh, name = %dp.name, error = %Chain(&err), "refused a CSR");
                return Err(Status::invalid_argument(Chain(&err).to_string()));
            }
            Err(issue::Error::Identity(err)) => {
                tracing::warn!(mesh = %dp.mesh, name = %dp.name, error = %err, "refused a CSR");
                return Err(Status::invalid_argument(err.to_string()));
            }
            Err(err) => {
                // The detail (store, CA secrets, files) is for the operator, not the proxy.
                tracing::error!(mesh = %dp.mesh, name = %dp.name, error = %Chain(&err), "could not issue a certificate");
                return Err(Status::unavailable(ISSUE_FAILED));
            }
        };
        let metrics = &self.auth.metrics;
        metrics.dp_certificate_issue_time(started.elapsed());
        metrics.dp_certificate_issued();
        let not_after = issued.cert.not_after;
        metrics.dp_certificate_held(&session.id, Some(not_after.unix_timestamp()));
        self.insights.issued(&dp.mesh, &dp.name, &issued.backend, not_after);
        let identity = pb::Identity {
            cert_chain_pem: issued.cert.chain_pem,
            trust_bundle_pem: issued.cert.trust_bundle_pem,
            not_after: Some(timestamp(not_after)),
            rotate_at: Some(timestamp(issued.rotate_at)),
            backend: issued.backend,
            uris: issued.uris,
        };
        send(tx, CpKind::Identity(identity)).await;
        Ok(())
    }
}

/// What to say when mTLS is (re)evaluated: ask for a CSR, or say there is nothing to ask.
fn first_message(backend: Option<&CaBackend>, reason: &str) -> CpKind {
    match backend {
        Some(_) => rotate(reason),
        None => CpKind::MtlsDisabled(pb::MtlsDisabled {}),
    }
}

fn rotate(reason: &str) -> CpKind {
    CpKind::Rotate(pb::RotateRequested { reason: reason.to_owned() })
}

/// A closed channel means the proxy left; the select loop notices it.
pub(super) async fn send(tx: &mpsc::Sender<Result<pb::CpMessage, Status>>, kind: CpKind) {
    let _ = tx.send(Ok(pb::CpMessage { kind: Some(kind) })).await;
}

fn timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    let nanos = i32::try_from(t.nanosecond()).unwrap_or(0);
    prost_types::Timestamp { seconds: t.unix_timestamp(), nanos }
}

/// Resolves when the token expires (never without one).
pub(super) async fn expiry(at: Option<OffsetDateTime>) {
    match at {
        Some(at) => tokio::time::sleep(issue::until(at)).await,
        None => std::future::pending().await,
    }
}
