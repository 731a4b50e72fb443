//! The gRPC service: one task per stream, fed by the stream's requests and by changes of the
//! session's status, running the state machine of its flavour ([`Sotw`] or [`Delta`]).

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::envoy::service::secret::v3::secret_discovery_service_server::SecretDiscoveryService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::delta::Delta;
use super::sotw::Sotw;
use super::{SECRET_TYPE_URL, Secrets, Source};

/// Responses a stream has queued but Envoy has not read yet.
const STREAM_BUFFER: usize = 4;

/// The SDS service over a [`Source`].
#[derive(Debug)]
pub struct Service {
    source: Source,
}

/// A stream's state machine: what to send after a request, and after the secrets changed.
pub(super) trait Flavour: Default + Send + 'static {
    type Request: Send + 'static;
    type Response: Send + 'static;
    fn on_request(&mut self, request: &Self::Request, secrets: &Secrets) -> Option<Self::Response>;
    fn on_change(&mut self, secrets: &Secrets) -> Option<Self::Response>;
}

impl Service {
    /// A service serving `source`.
    pub fn new(source: Source) -> Self {
        Self { source }
    }

    fn spawn<F: Flavour>(
        &self,
        requests: Streaming<F::Request>,
    ) -> ReceiverStream<Result<F::Response, Status>>
    where
        F::Request: prost::Message + Default,
    {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(run::<F>(self.source.clone(), requests, tx));
        ReceiverStream::new(rx)
    }
}

#[tonic::async_trait]
impl SecretDiscoveryService for Service {
    type DeltaSecretsStream = ReceiverStream<Result<DeltaDiscoveryResponse, Status>>;
    type StreamSecretsStream = ReceiverStream<Result<DiscoveryResponse, Status>>;

    async fn delta_secrets(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaSecretsStream>, Status> {
        Ok(Response::new(self.spawn::<Delta>(request.into_inner())))
    }

    async fn stream_secrets(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamSecretsStream>, Status> {
        Ok(Response::new(self.spawn::<Sotw>(request.into_inner())))
    }

    async fn fetch_secrets(
        &self,
        request: Request<DiscoveryRequest>,
    ) -> Result<Response<DiscoveryResponse>, Status> {
        let request = request.into_inner();
        let mut fetch = Sotw::default();
        match fetch.on_request(&request, &self.source.secrets()) {
            Some(response) => Ok(Response::new(response)),
            None => Err(Status::not_found(format!(
                "no secret among {:?} (type {SECRET_TYPE_URL}) is available",
                request.resource_names
            ))),
        }
    }
}

/// One stream: until Envoy closes it, or the responses cannot be delivered.
async fn run<F: Flavour>(
    mut source: Source,
    mut requests: Streaming<F::Request>,
    tx: mpsc::Sender<Result<F::Response, Status>>,
) where
    F::Request: prost::Message + Default,
{
    let mut state = F::default();
    loop {
        let response = tokio::select! {
            request = requests.message() => match request {
                Ok(Some(request)) => state.on_request(&request, &source.secrets()),
                Ok(None) => return,
                Err(status) => {
                    tracing::debug!(%status, "SDS stream ended");
                    return;
                }
            },
            changed = source.status.changed() => match changed {
                Ok(()) => state.on_change(&source.secrets()),
                // The session is gone: kuma-dp is stopping.
                Err(_) => return,
            },
        };
        if let Some(response) = response
            && tx.send(Ok(response)).await.is_err()
        {
            return;
        }
    }
}
