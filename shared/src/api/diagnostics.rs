//! The diagnostics server (`KUMA_DIAGNOSTICS_SERVER_PORT`, 5680): liveness and readiness.
//!
//! `/healthy` answers as long as the process serves requests; `/ready` only once the control
//! plane has finished starting (store open, every listener bound) and until shutdown begins;
//! `/metrics` is the Prometheus text exposition.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::timeout::TimeoutLayer;

use crate::metrics::Metrics;

/// Longest a probe request may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Shared readiness flag: the app sets it once started and clears it when stopping.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the control plane ready (or not).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether the control plane is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct Probes {
    readiness: Readiness,
    metrics: Metrics,
}

/// `/healthy`, `/ready` and `/metrics`.
pub fn router(readiness: Readiness, metrics: Metrics) -> Router {
    Router::new()
        .route("/healthy", get(|| async { "" }))
        .route("/ready", get(ready))
        .route("/metrics", get(render_metrics))
        // Probes send no body and answer at once: anything else is not a probe.
        .layer(DefaultBodyLimit::max(1024))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, PROBE_TIMEOUT))
        .with_state(Probes { readiness, metrics })
}

async fn render_metrics(State(state): State<Probes>) -> impl IntoResponse {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], state.metrics.render())
}

async fn ready(State(state): State<Probes>) -> (StatusCode, &'static str) {
    if state.readiness.is_ready() {
        (StatusCode::OK, "")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn status(router: Router, path: &str) -> StatusCode {
        router.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap().status()
    }

    #[tokio::test]
    async fn ready_follows_the_flag() {
        let readiness = Readiness::default();
        let metrics = Metrics::new();
        metrics.token_issued("user");
        let app = router(readiness.clone(), metrics);
        assert_eq!(status(app.clone(), "/ready").await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(app.clone(), "/healthy").await, StatusCode::OK);
        readiness.set(true);
        assert_eq!(status(app.clone(), "/ready").await, StatusCode::OK);
        assert_eq!(status(app, "/metrics").await, StatusCode::OK);
    }
}
