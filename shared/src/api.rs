//! The REST API: an axum router over the store, with Kuma's paths, bodies and errors.
//!
//! It owns request parsing, authorization and the multizone write rules; it does not bind
//! sockets (see [`serve`]) nor decide what a valid resource is (see `resources`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use serde::Serialize;
use serde_json::Value;
use tower_http::timeout::TimeoutLayer;

use crate::store::Store;

mod auth;
pub mod diagnostics;
mod error;
mod handlers;
pub mod serve;

pub use auth::{User, is_local_request};
pub use error::ApiError;

/// Which kind of control plane serves the API; it decides which types may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The global control plane of a multizone deployment.
    Global,
    /// A zone control plane that is not connected to a global.
    Zone,
    /// A zone control plane with a global address: global-provided types are read-only here.
    FederatedZone,
}

/// Who may do what, beyond Kuma's admin-only secrets.
#[derive(Debug, Clone, Copy)]
pub struct AuthSettings {
    /// `KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN`.
    pub localhost_is_admin: bool,
    /// Whether callers without credentials may create, update and delete non-secret resources.
    /// Kuma allows it; we refuse by default.
    pub anonymous_can_write: bool,
}

/// What `GET /` reports about this control plane.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Host name of the machine.
    pub hostname: String,
    /// Always `Kuma`: clients branch on it.
    pub tagline: String,
    /// Always `Kuma`.
    pub product: String,
    /// Our version.
    pub version: String,
    /// The Kuma release whose API we follow.
    pub based_on_kuma: String,
    /// Unique per process.
    pub instance_id: String,
    /// Unique per deployment, kept in the store.
    pub cluster_id: String,
    /// Kuma's GUI hint; we serve no GUI.
    pub gui: String,
}

/// Settings of the API router.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Which control plane this is.
    pub role: Role,
    /// Authorization settings.
    pub auth: AuthSettings,
    /// `KUMA_API_SERVER_READ_ONLY`: refuse every write.
    pub read_only: bool,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Time allowed for one request, body included.
    pub request_timeout: Duration,
    /// The effective configuration, secrets redacted, served at `GET /config`.
    pub config_json: Value,
    /// `GET /`.
    pub index: Index,
}

/// Shared state of every handler. Cloning is cheap.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: ApiConfig,
}

impl ApiState {
    /// State over `store` with `config`.
    pub fn new(store: Store, config: ApiConfig) -> Self {
        Self {
            inner: Arc::new(Inner { store, config }),
        }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn auth(&self) -> AuthSettings {
        self.inner.config.auth
    }

    fn config(&self) -> &ApiConfig {
        &self.inner.config
    }
}

/// The REST API with Kuma's paths.
pub fn router(state: ApiState) -> Router {
    let limits = (
        state.config().max_body_bytes,
        state.config().request_timeout,
    );
    Router::new()
        .route("/", get(index))
        .route("/config", get(config))
        .merge(handlers::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limits.0))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.1,
        ))
        .with_state(state)
}

async fn index(State(state): State<ApiState>) -> Json<Index> {
    Json(state.config().index.clone())
}

async fn config(State(state): State<ApiState>) -> Json<Value> {
    Json(state.config().config_json.clone())
}

async fn not_found() -> impl IntoResponse {
    ApiError::NotFound
}

#[cfg(test)]
mod tests;
