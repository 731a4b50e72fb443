//! Telling a wrong port from a failing server: a channel that refuses answers that are not gRPC.
//!
//! tonic turns an HTTP answer without `grpc-status` (the REST API answering 404 or 405, say) into
//! a `Status` whose only trace of it is message text. [`grpc_only`] checks the content type of
//! every answer instead and fails the call with [`NotGrpc`], which callers find with
//! [`not_grpc`] on the call's `Status`.

use std::error::Error as StdError;

use tonic::body::Body;
use tonic::transport::Channel;

/// An answer that was not gRPC: the address is some other HTTP server.
#[derive(Debug, thiserror::Error)]
#[error("the server answered HTTP {status} without gRPC")]
pub struct NotGrpc {
    /// The HTTP status it answered with.
    pub status: http::StatusCode,
}

/// `channel`, failing every call whose answer is not `application/grpc` with [`NotGrpc`].
pub fn grpc_only(
    channel: Channel,
) -> impl tower::Service<
    http::Request<Body>,
    Response = http::Response<Body>,
    Error = Box<dyn StdError + Send + Sync>,
    Future = impl Send,
> + Clone
+ Send {
    tower::ServiceBuilder::new().map_result(check).service(channel)
}

/// The [`NotGrpc`] that failed a call, if that is why it failed.
pub fn not_grpc(status: &tonic::Status) -> Option<&NotGrpc> {
    StdError::source(status).and_then(|e| e.downcast_ref::<NotGrpc>())
}

fn check(
    result: Result<http::Response<Body>, tonic::transport::Error>,
) -> Result<http::Response<Body>, Box<dyn StdError + Send + Sync>> {
    let response = result?;
    let grpc = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc { Ok(response) } else { Err(Box::new(NotGrpc { status: response.status() })) }
}

/// Whether a stream ended because the peer went away (it cancelled the call, or the connection
/// broke) rather than because of something it sent: a proxy or zone stopping is not an error.
pub fn peer_went_away(status: &tonic::Status) -> bool {
    if status.code() == tonic::Code::Cancelled {
        return true;
    }
    let mut next = StdError::source(status);
    while let Some(err) = next {
        if err.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        next = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_call_or_a_broken_connection_is_the_peer_leaving() {
        assert!(peer_went_away(&tonic::Status::cancelled("bye")));
        let broken = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(peer_went_away(&tonic::Status::from_error(Box::new(broken))));
        assert!(!peer_went_away(&tonic::Status::invalid_argument("a bad field")));
        assert!(!peer_went_away(&tonic::Status::unauthenticated("a bad token")));
    }
}
