//! The Session stream with the DP server: Hello, a CSR whenever the control plane asks or the
//! current certificate reaches `rotate_at`, and a reconnect loop with backoff around it.
//!
//! The private key is made once by the caller and only signs CSRs here; it is never written
//! anywhere. This module must not serve HTTP or SDS: it only publishes the [`Status`], which the
//! readiness endpoint and the SDS server read.

use std::time::Duration;

use kuma_core::net::{Backoff, ChannelSettings, ConnectError};
use proto::kumars::dp::v1::{
    self as dp, CertificateRequest, DpMessage, Hello, cp_message, dataplane_service_client,
    dp_message,
};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::cli::{ProxyType, RunConfig};
use crate::readiness::{Held, Status};
use crate::san;

/// Errors that stop kuma-dp: retrying cannot fix them.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// The host of `--cp-address` is not a SAN of the CP certificate (Kuma's message).
    #[error("{0}")]
    SanMismatch(String),
    /// The CP certificate does not chain to the given CA.
    #[error("the control plane certificate is not trusted by the given CA")]
    Untrusted(#[source] ConnectError),
    /// A CSR could not be made with the key.
    #[error("building a certificate signing request")]
    Csr(#[source] rcgen::Error),
    /// The token file is missing or unreadable; the OS error follows in the chain.
    #[error("the dataplane token cannot be read")]
    TokenFile(#[source] crate::cli::Error),
    /// The token names another mesh than the proxy's.
    #[error(
        "the dataplane token is for mesh {token:?}, but this proxy is in mesh {proxy:?}: \
         generate one with `kumactl generate dataplane-token --mesh {proxy} ...`"
    )]
    TokenMesh {
        /// The token's `Mesh` claim.
        token: String,
        /// The proxy's mesh.
        proxy: String,
    },
    /// `--cp-address` answers, but it is not a DP server.
    #[error(
        "{address} is not a DP server ({why}): check the port of --cp-address (the DP server \
         listens on 5678, KUMA_DP_SERVER_PORT)"
    )]
    NotDpServer {
        /// `host:port`.
        address: String,
        /// What answered instead.
        why: String,
    },
}

impl Fatal {
    /// kuma-dp's exit code for this error: 78 (`EX_CONFIG`), a setting only the operator can
    /// fix, for every error that stops the retries.
    pub const EXIT_CODE: u8 = 78;
}

/// The dataplane token, re-read from its source. A file that is not there (or not ours to
/// read) will not appear by retrying, and a token made for another mesh will never be accepted:
/// both are [`Fatal`].
pub fn token(config: &RunConfig) -> Result<String, Fatal> {
    let token = config.token.read().map_err(Fatal::TokenFile)?;
    if let Some(mesh) = token_mesh(&token).filter(|m| *m != config.mesh) {
        return Err(Fatal::TokenMesh { token: mesh, proxy: config.mesh.clone() });
    }
    Ok(token)
}

/// The `Mesh` claim of a JWT, read without verifying it (the control plane verifies; this only
/// catches a token made for another mesh before connecting).
fn token_mesh(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["Mesh"].as_str().filter(|m| !m.is_empty()).map(str::to_owned)
}

/// Connects, keeps the session up with backoff, and returns only on a [`Fatal`] error.
pub async fn run(
    config: &RunConfig,
    settings: &ChannelSettings,
    key: &KeyPair,
    status: &watch::Sender<Status>,
) -> Result<(), Fatal> {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        let reason = once(config, settings, key, status, &mut backoff).await?;
        let delay = backoff.next_delay();
        tracing::warn!(%reason, ?delay, "session with the control plane ended; reconnecting");
        tokio::time::sleep(delay).await;
    }
}

/// One connection; returns why it ended.
async fn once(
    config: &RunConfig,
    settings: &ChannelSettings,
    key: &KeyPair,
    status: &watch::Sender<Status>,
    backoff: &mut Backoff,
) -> Result<String, Fatal> {
    let token = match token(config) {
        Ok(token) => token,
        // An empty file may be half-written by a rotation: read it again later.
        Err(Fatal::TokenFile(e @ crate::cli::Error::NoToken)) => return Ok(e.to_string()),
        Err(fatal) => return Err(fatal),
    };
    let address = format!("{}:{}", config.host, config.port);
    let not_dp_server = |why: String| Fatal::NotDpServer { address: address.clone(), why };
    match san::fetch_sans(&config.host, config.port).await {
        Ok(sans) if !san::host_matches(&config.host, &sans) => {
            return Err(Fatal::SanMismatch(san::mismatch_message(&config.host, &sans)));
        }
        Ok(_) => {}
        Err(e @ san::Error::NotTls(_)) => return Err(not_dp_server(e.to_string())),
        Err(e) => return Ok(format!("{:#}", anyhow::Error::new(e))),
    }
    let channel = match kuma_core::net::connect(settings).await {
        Ok(channel) => kuma_core::net::grpc_only(channel),
        Err(e @ ConnectError::UntrustedServer { .. }) => return Err(Fatal::Untrusted(e)),
        Err(e) => return Ok(format!("{:#}", anyhow::Error::new(e))),
    };
    let (tx, rx) = mpsc::channel(4);
    let hello = Hello {
        mesh: config.mesh.clone(),
        name: config.name.clone(),
        proxy_type: match config.proxy_type {
            ProxyType::Dataplane => dp::ProxyType::Dataplane,
            ProxyType::Ingress => dp::ProxyType::Ingress,
        }
        .into(),
        resource_json: config.resource_json.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    // The receiver is alive until the request below is dropped.
    let _ = tx.send(DpMessage { kind: Some(dp_message::Kind::Hello(hello)) }).await;
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    match format!("Bearer {token}").parse() {
        Ok(value) => request.metadata_mut().insert("authorization", value),
        Err(_) => return Ok("the dataplane token is not a valid header value".to_owned()),
    };
    let mut client = dataplane_service_client::DataplaneServiceClient::new(channel);
    let mut inbound = match client.session(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            if let Some(not_grpc) = kuma_core::net::not_grpc(&status) {
                return Err(not_dp_server(not_grpc.to_string()));
            }
            if status.code() == tonic::Code::Unimplemented {
                return Err(not_dp_server("a gRPC server without the DP server's service".into()));
            }
            return Ok(status.message().to_owned());
        }
    };
    let mut rotate: Option<tokio::time::Instant> = None;
    loop {
        let message = tokio::select! {
            message = inbound.message() => message,
            () = sleep_until(rotate), if rotate.is_some() => {
                rotate = None;
                tracing::info!("certificate reached its rotation time; sending a CSR");
                send_csr(&tx, key, &config.name).await?;
                continue;
            }
        };
        let kind = match message {
            Ok(Some(dp::CpMessage { kind: Some(kind) })) => kind,
            Ok(Some(_)) => continue,
            Ok(None) => return Ok("the control plane closed the stream".to_owned()),
            Err(status) => return Ok(status.message().to_owned()),
        };
        backoff.reset();
        match kind {
            cp_message::Kind::Rotate(req) => {
                tracing::info!(reason = %req.reason, "control plane requested a new certificate");
                send_csr(&tx, key, &config.name).await?;
            }
            cp_message::Kind::MtlsDisabled(_) => {
                tracing::info!("mTLS is disabled in the mesh; holding no certificate");
                rotate = None;
                status.send_modify(|s| {
                    s.answered = true;
                    s.mtls = false;
                    s.held = None;
                });
            }
            cp_message::Kind::ZoneProxyAccepted(accepted) => {
                tracing::info!(name = %accepted.name, zone = %accepted.zone, "registered as the zone's ingress; zone ingresses hold no mesh certificate");
                rotate = None;
                status.send_modify(|s| {
                    s.answered = true;
                    s.mtls = false;
                    s.held = None;
                });
            }
            cp_message::Kind::Identity(identity) => {
                let held = held(identity);
                tracing::info!(expiry = %held.expiry, rotate_at = %held.rotate_at, uris = ?held.uris, "received an identity certificate");
                rotate = Some(instant_at(held.rotate_at));
                status.send_modify(|s| {
                    s.answered = true;
                    s.mtls = true;
                    s.held = Some(held);
                    s.regenerations += 1;
                });
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A CSR signed with `key`; the DP server ignores its names, the CN only helps humans.
pub fn csr_der(key: &KeyPair, name: &str) -> Result<Vec<u8>, rcgen::Error> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    Ok(params.serialize_request(key)?.der().to_vec())
}

async fn send_csr(tx: &mpsc::Sender<DpMessage>, key: &KeyPair, name: &str) -> Result<(), Fatal> {
    let csr_der = csr_der(key, name).map_err(Fatal::Csr)?;
    let message = DpMessage { kind: Some(dp_message::Kind::Csr(CertificateRequest { csr_der })) };
    // A closed stream shows up on the inbound side, which reports why.
    let _ = tx.send(message).await;
    Ok(())
}

fn held(identity: dp::Identity) -> Held {
    let at = |ts: Option<prost_types::Timestamp>| {
        ts.and_then(|ts| {
            let secs = OffsetDateTime::from_unix_timestamp(ts.seconds).ok()?;
            Some(secs + time::Duration::nanoseconds(i64::from(ts.nanos)))
        })
        .unwrap_or_else(OffsetDateTime::now_utc)
    };
    Held {
        cert_chain: identity.cert_chain_pem,
        trust_bundle: identity.trust_bundle_pem,
        expiry: at(identity.not_after),
        rotate_at: at(identity.rotate_at),
        uris: identity.uris,
    }
}

/// The monotonic instant of a wall-clock time (now when it is past).
fn instant_at(at: OffsetDateTime) -> tokio::time::Instant {
    let wait = (at - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
    tokio::time::Instant::now() + wait.unsigned_abs()
}

#[cfg(test)]
mod tests {
    use rcgen::PublicKeyData;

    use super::*;

    #[test]
    fn a_csr_is_signed_by_the_in_memory_key() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let der = csr_der(&key, "web").unwrap();
        let csr = rcgen::CertificateSigningRequestParams::from_der(&der.into()).unwrap();
        assert_eq!(csr.public_key.der_bytes(), key.der_bytes());
    }

    #[test]
    fn a_past_rotation_time_is_due_now() {
        let now = tokio::time::Instant::now();
        let past = instant_at(OffsetDateTime::now_utc() - time::Duration::hours(1));
        assert!(past <= tokio::time::Instant::now() && past >= now);
        let later = instant_at(OffsetDateTime::now_utc() + time::Duration::hours(1));
        assert!(later > now + Duration::from_secs(3500));
    }
}
