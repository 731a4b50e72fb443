//! A client for Envoy's admin API on its Unix socket: HTTP/1.1, one connection per request
//! (the calls are rare: readiness probes and the drain).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// How long one admin call may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Envoy's admin API.
#[derive(Debug, Clone)]
pub struct Admin {
    socket: PathBuf,
}

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket did not accept the connection.
    #[error("connecting to Envoy's admin socket {0}")]
    Connect(PathBuf, #[source] std::io::Error),
    /// The HTTP exchange failed.
    #[error("calling Envoy's admin API")]
    Http(#[source] hyper::Error),
    /// No answer in time.
    #[error("Envoy's admin API did not answer within 5s")]
    Timeout,
    /// The request could not be built (a bad path).
    #[error("building the admin request")]
    Request(#[source] http::Error),
}

impl Admin {
    /// The admin API on `socket`.
    pub fn new(socket: &Path) -> Self {
        Self { socket: socket.to_owned() }
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET path`: the status and the body as text.
    pub async fn get(&self, path: &str) -> Result<(StatusCode, String), Error> {
        self.call(Method::GET, path).await
    }

    /// `POST path`: the status and the body as text.
    pub async fn post(&self, path: &str) -> Result<(StatusCode, String), Error> {
        self.call(Method::POST, path).await
    }

    async fn call(&self, method: Method, path: &str) -> Result<(StatusCode, String), Error> {
        tokio::time::timeout(TIMEOUT, self.exchange(method, path))
            .await
            .unwrap_or(Err(Error::Timeout))
    }

    async fn exchange(&self, method: Method, path: &str) -> Result<(StatusCode, String), Error> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| Error::Connect(self.socket.clone(), e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(Error::Http)?;
        // The connection task ends when the exchange is over and `sender` is dropped.
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "envoy")
            .body(Empty::<Bytes>::new())
            .map_err(Error::Request)?;
        let response = sender.send_request(request).await.map_err(Error::Http)?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(Error::Http)?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}
