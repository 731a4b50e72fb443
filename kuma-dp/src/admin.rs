//! The local admin endpoint (127.0.0.1 only): `GET /certs` shows the identity kuma-dp holds,
//! `GET /ready` says whether the control plane has answered.
//!
//! It owns [`Status`], which the session writes and these handlers read. It must never expose the
//! private key, and never talk to the control plane.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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
#[derive(Debug, Default)]
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

/// The status shared by the session (writer) and the endpoint (reader).
pub type Shared = Arc<Mutex<Status>>;

/// Locks the status; a panic elsewhere cannot leave it half-written (every write is one
/// assignment), so a poisoned lock is still usable.
pub fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Status> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The admin routes.
pub fn router(shared: Shared) -> Router {
    Router::new().route("/certs", get(certs)).route("/ready", get(ready)).with_state(shared)
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

async fn certs(State(shared): State<Shared>) -> Response {
    let status = lock(&shared);
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

async fn ready(State(shared): State<Shared>) -> StatusCode {
    if lock(&shared).answered { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
}
