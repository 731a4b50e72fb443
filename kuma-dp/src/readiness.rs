//! The readiness endpoint on 127.0.0.1:`KUMA_READINESS_PORT` (Kuma's readiness reporter, 9902 by
//! default): `GET /ready` answers 200 `READY` while Envoy says it is live and kuma-dp is not
//! shutting down, and 503 with the reason otherwise; `GET /certs` shows the identity kuma-dp
//! holds (never its key).
//!
//! It owns [`Status`], which the session writes and these handlers and the SDS server read. It
//! must never expose the private key, and never talk to the control plane.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

use crate::envoy;

/// The certificate kuma-dp holds (never its key).
#[derive(Debug, Clone)]
pub struct Held {
    /// Leaf first, then intermediates.
    pub cert_chain: String,
    /// The mesh's CA certificates.
    pub trust_bundle: String,
    /// The leaf's not-after.
    pub expiry: OffsetDateTime,
    /// When the next CSR goes out.
    pub rotate_at: OffsetDateTime,
    /// SPIFFE and kuma:// URIs, in certificate order.
    pub uris: Vec<String>,
}

/// What the control plane last said.
#[derive(Debug, Default, Clone)]
pub struct Status {
    /// An `Identity` or `MtlsDisabled` was received.
    pub answered: bool,
    /// The mesh has mTLS (the last answer was an `Identity`).
    pub mtls: bool,
    /// The latest identity; `None` with mTLS off.
    pub held: Option<Held>,
    /// How many identities were received since start.
    pub regenerations: u64,
}

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct Readiness {
    status: watch::Receiver<Status>,
    envoy: envoy::Admin,
    terminating: Arc<AtomicBool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertsView {
    cert_chain: Option<String>,
    trust_bundle: Option<String>,
    expiry: Option<String>,
    rotate_at: Option<String>,
    uris: Vec<String>,
    regenerations: u64,
    mtls: bool,
}

impl Readiness {
    /// Handlers over `status` and the Envoy behind `envoy`.
    pub fn new(status: watch::Receiver<Status>, envoy: envoy::Admin) -> Self {
        Self { status, envoy, terminating: Arc::new(AtomicBool::new(false)) }
    }

    /// From now on `/ready` answers 503 `terminating`.
    pub fn terminate(&self) {
        self.terminating.store(true, Ordering::SeqCst);
    }

    /// The routes.
    pub fn router(self) -> Router {
        Router::new().route("/certs", get(certs)).route("/ready", get(ready)).with_state(self)
    }
}

async fn certs(State(state): State<Readiness>) -> Response {
    let status = state.status.borrow().clone();
    if !status.answered {
        return (StatusCode::NOT_FOUND, "no answer from the control plane yet\n").into_response();
    }
    let rfc3339 = |t: OffsetDateTime| t.format(&Rfc3339).ok();
    let held = status.held.as_ref();
    Json(CertsView {
        cert_chain: held.map(|h| h.cert_chain.clone()),
        trust_bundle: held.map(|h| h.trust_bundle.clone()),
        expiry: held.and_then(|h| rfc3339(h.expiry)),
        rotate_at: held.and_then(|h| rfc3339(h.rotate_at)),
        uris: held.map(|h| h.uris.clone()).unwrap_or_default(),
        regenerations: status.regenerations,
        mtls: status.mtls,
    })
    .into_response()
}

/// Envoy's own `/ready` decides (200 only when it is LIVE), unless kuma-dp is shutting down.
async fn ready(State(state): State<Readiness>) -> (StatusCode, String) {
    if state.terminating.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "terminating\n".to_owned());
    }
    match state.envoy.get("/ready").await {
        Ok((StatusCode::OK, _)) => (StatusCode::OK, "READY\n".to_owned()),
        Ok((_, body)) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("envoy is not ready: {}\n", body.trim()))
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("envoy is not ready: {e}\n")),
    }
}
