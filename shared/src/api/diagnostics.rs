//! The diagnostics server (`KUMA_DIAGNOSTICS_SERVER_PORT`, 5680): liveness and readiness.
//!
//! `/healthy` answers as long as the process serves requests; `/ready` only once the control
//! plane has finished starting (store open, every listener bound) and until shutdown begins.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::timeout::TimeoutLayer;

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

/// `/healthy` and `/ready`.
pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthy", get(|| async { "" }))
        .route("/ready", get(ready))
        // Probes send no body and answer at once: anything else is not a probe.
        .layer(DefaultBodyLimit::max(1024))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            PROBE_TIMEOUT,
        ))
        .with_state(readiness)
}

async fn ready(State(readiness): State<Readiness>) -> (StatusCode, &'static str) {
    if readiness.is_ready() {
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
        router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn ready_follows_the_flag() {
        let readiness = Readiness::default();
        let app = router(readiness.clone());
        assert_eq!(
            status(app.clone(), "/ready").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status(app.clone(), "/healthy").await, StatusCode::OK);
        readiness.set(true);
        assert_eq!(status(app, "/ready").await, StatusCode::OK);
    }
}
