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
use store::Store;
use tower_http::timeout::TimeoutLayer;

use crate::audit::{AuditLog, Event};
use crate::config::Access;
use crate::config::RateLimit;
use crate::credentials::Credentials;
use crate::insights::Insights;
use crate::kds::status::{KdsState, KdsStatus};
use crate::limits::Limiter;
use crate::metrics::Metrics;

mod auth;
mod body;
pub mod diagnostics;
mod error;
mod handlers;
mod insights;
pub mod serve;
mod tokens;

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

/// Which token issuers are enabled (`..._ENABLE_ISSUER`).
#[derive(Debug, Clone, Copy)]
pub struct Issuers {
    /// `POST /tokens/user`.
    pub user: bool,
    /// `POST /tokens/dataplane`.
    pub dataplane: bool,
    /// `POST /tokens/zone`.
    pub zone: bool,
}

/// Settings of the API router.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Which control plane this is.
    pub role: Role,
    /// Authorization settings.
    pub auth: AuthSettings,
    /// Who may manage secrets and generate tokens (`KUMA_ACCESS_STATIC_*`).
    pub access: Access,
    /// Which token endpoints issue tokens.
    pub issuers: Issuers,
    /// `KUMA_API_SERVER_READ_ONLY`: refuse every write.
    pub read_only: bool,
    /// `KUMA_DEFAULTS_CREATE_MESH_ROUTING_RESOURCES`: a new mesh gets `allow-all-<mesh>`.
    pub create_mesh_routing_resources: bool,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Time allowed for one request, body included.
    pub request_timeout: Duration,
    /// Per-address limits of `POST /tokens/*`, over the HTTP and HTTPS listeners together.
    pub tokens_rate_limit: RateLimit,
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
    services: Services,
    token_limiter: Limiter,
}

/// What the handlers use beside the store.
#[derive(Clone)]
pub struct Services {
    /// Signing keys, CAs and validators.
    pub credentials: Credentials,
    /// Where security events are recorded.
    pub audit: AuditLog,
    /// Counters.
    pub metrics: Metrics,
    /// A zone's KDS connection (stays `disabled` elsewhere).
    pub kds_status: KdsStatus,
    /// The latest insights, kept current from the change feed.
    pub insights: Insights,
}

impl ApiState {
    /// State over `store` with `config`.
    pub fn new(store: Store, config: ApiConfig, services: Services) -> Self {
        let token_limiter = Limiter::new(
            "api-tokens",
            config.tokens_rate_limit,
            services.metrics.clone(),
            services.audit.clone(),
        );
        Self { inner: Arc::new(Inner { store, config, services, token_limiter }) }
    }

    fn credentials(&self) -> &Credentials {
        &self.inner.services.credentials
    }

    fn audit(&self, event: Event) {
        self.inner.services.audit.record(event);
    }

    fn metrics(&self) -> &Metrics {
        &self.inner.services.metrics
    }

    /// Records a rejected user credential: log, metric and audit line.
    fn auth_failed(&self, reason: &'static str, detail: String, source: &str) {
        tracing::warn!(reason, %detail, source, "rejected a user token");
        self.metrics().auth_failed("user", reason);
        self.audit(Event::AuthFailed {
            subject: "user",
            reason,
            detail,
            source: source.to_owned(),
        });
    }

    /// The store the API serves from, for the routes a role adds.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    fn insights(&self) -> &Insights {
        &self.inner.services.insights
    }

    fn auth(&self) -> AuthSettings {
        self.inner.config.auth
    }

    fn config(&self) -> &ApiConfig {
        &self.inner.config
    }
}

/// The REST API with Kuma's paths: what both roles serve, and `role_routes` (what only this
/// role serves: the global's zones registry, the zone's dataplane overviews).
pub fn router(state: ApiState, role_routes: Router<ApiState>) -> Router {
    let limits = (state.config().max_body_bytes, state.config().request_timeout);
    Router::new()
        .route("/", get(index))
        .route("/config", get(config))
        .route("/status/kds", get(kds_status))
        .merge(handlers::routes())
        .merge(tokens::routes(&state))
        .merge(insights::routes())
        .merge(role_routes)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limits.0))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.1))
        .with_state(state)
}

async fn index(State(state): State<ApiState>) -> Json<Index> {
    Json(state.config().index.clone())
}

async fn config(State(state): State<ApiState>) -> Json<Value> {
    Json(state.config().config_json.clone())
}

async fn kds_status(State(state): State<ApiState>) -> Json<KdsState> {
    Json(state.inner.services.kds_status.get())
}

async fn not_found(uri: axum::http::Uri) -> impl IntoResponse {
    ApiError::UnknownPath { path: uri.path().to_owned() }
}

#[cfg(test)]
mod tests;
