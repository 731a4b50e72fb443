//! Zone ingress sessions (`kuma-dp --proxy-type ingress`): the proxy proves it belongs to this
//! zone with a zone token of scope `ingress`, registers its `ZoneIngress` (pinned to this zone)
//! and keeps the stream open. A zone ingress carries no mesh identity, so no certificate is
//! issued; the stream ends when the token is revoked, expires or loses its key, like a data
//! plane proxy's. The multizone sync carries the ZoneIngress up to the global and on to the
//! other zones.

use kuma_core::resources::{ResourceType, Spec, ZoneIngressSpec};
use proto::kumars::dp::v1 as pb;
use proto::kumars::dp::v1::cp_message::Kind as CpKind;
use proto::kumars::dp::v1::dp_message::Kind as DpKind;
use store::{self, Key, Store};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Response, Status, Streaming};

use super::dataplane::{decode, store_error};
use super::session::{DpService, Outbound, STREAM_BUFFER, expiry, send};

/// An authenticated zone ingress.
struct Ingress {
    name: String,
    token: Option<String>,
    expires: Option<OffsetDateTime>,
    source: String,
}

impl DpService {
    /// Authenticates and registers a zone ingress, then serves its stream in a task.
    pub(super) async fn ingress_session(
        &self,
        hello: pb::Hello,
        token: Option<String>,
        source: String,
        inbound: Streaming<pb::DpMessage>,
    ) -> Result<Response<Outbound>, Status> {
        let expires = self.auth.check_zone_proxy(token.as_deref(), &source).await?;
        let zone = self.auth.zone.clone();
        register(&self.store, &hello, &zone).await?;
        tracing::info!(name = %hello.name, %zone, %source, "zone ingress authenticated");
        let ingress = Ingress { name: hello.name, token, expires, source };
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let accepted = pb::ZoneProxyAccepted { name: ingress.name.clone(), zone };
        send(&tx, CpKind::ZoneProxyAccepted(accepted)).await;
        let this = self.clone();
        tokio::spawn(async move {
            let name = ingress.name.clone();
            match this.serve_ingress(&ingress, inbound, &tx).await {
                Ok(()) => tracing::info!(%name, "zone ingress disconnected"),
                Err(status) => {
                    tracing::info!(%name, %status, "closing the zone ingress's stream");
                    let _ = tx.send(Err(status)).await;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn serve_ingress(
        &self,
        ingress: &Ingress,
        mut inbound: Streaming<pb::DpMessage>,
        tx: &mpsc::Sender<Result<pb::CpMessage, Status>>,
    ) -> Result<(), Status> {
        let watch = self.dispatcher.watch_ingress();
        let mut shutdown = self.shutdown.clone();
        loop {
            tokio::select! {
                () = shutdown.wait() => return Err(Status::unavailable("the control plane is shutting down")),
                () = expiry(ingress.expires) => return Err(self.auth.expired(true, &ingress.source)),
                () = tx.closed() => return Ok(()),
                message = inbound.message() => {
                    let Some(message) = message? else { return Ok(()) };
                    match message.kind {
                        Some(DpKind::Csr(_)) => {
                            return Err(Status::invalid_argument("a zone ingress gets no mesh certificate; do not send a CSR"));
                        }
                        Some(DpKind::Hello(_)) => return Err(Status::invalid_argument("Hello may only be sent once")),
                        None => {}
                    }
                }
                reasons = watch.changed() => {
                    if reasons.token() {
                        self.auth.check_zone_proxy(ingress.token.as_deref(), &ingress.source).await?;
                    }
                }
            }
        }
    }
}

/// Stores the ingress the Hello carries (or checks that it exists), pinned to `zone`.
async fn register(store: &Store, hello: &pb::Hello, zone: &str) -> Result<(), Status> {
    let key = Key::global(ResourceType::ZoneIngress.name(), &hello.name);
    let stored = match store.get(&key).await {
        Ok(record) => Some(record),
        Err(store::Error::NotFound { .. }) => None,
        Err(err) => return Err(store_error(&err)),
    };
    if hello.resource_json.is_empty() {
        return match stored {
            Some(_) => Ok(()),
            None => Err(Status::not_found(format!(
                "resource {:?} not found; create a ZoneIngress in Kuma CP first or pass it as an \
                 argument to kuma-dp",
                hello.name
            ))),
        };
    }
    let mut spec = parse(&hello.resource_json, &hello.name)?;
    if !spec.zone.is_empty() && spec.zone != zone {
        return Err(Status::invalid_argument(format!(
            "the ZoneIngress says it is in zone {:?}, but this control plane is zone {zone:?}",
            spec.zone
        )));
    }
    zone.clone_into(&mut spec.zone);
    let value = Spec::ZoneIngress(spec).to_value();
    let written = match stored {
        Some(record) if record.spec == value => return Ok(()),
        Some(record) => store.update(key, value, record.labels, record.version).await,
        None => store.create(key, value, Default::default()).await,
    };
    match written {
        Ok(_) => Ok(()),
        Err(err @ (store::Error::Conflict { .. } | store::Error::AlreadyExists { .. })) => {
            Err(Status::aborted(format!("the ZoneIngress changed while registering it: {err}")))
        }
        Err(err) => Err(store_error(&err)),
    }
}

/// Decodes `json` (Kuma's universal form), which must be the ZoneIngress `name`.
fn parse(json: &str, name: &str) -> Result<ZoneIngressSpec, Status> {
    let resource = decode(json, "ZoneIngress")?;
    let Spec::ZoneIngress(spec) = resource.spec else {
        return Err(Status::invalid_argument(format!(
            "proxy type ingress needs a ZoneIngress, got a {}",
            resource.spec.resource_type().name()
        )));
    };
    if resource.meta.name != name {
        return Err(Status::invalid_argument(format!(
            "the ZoneIngress is {:?}, but the proxy said it is {name:?}",
            resource.meta.name
        )));
    }
    Ok(spec)
}
