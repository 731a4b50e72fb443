//! Prometheus metrics of the control plane, served at `/metrics` on the diagnostics port.
//!
//! One [`Metrics`] per process, passed to whoever counts something; no global registry. Label
//! values are small closed sets (reasons, kinds) so that an attacker cannot grow the series.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of an authentication failure.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthFailure {
    /// What was being authenticated: `user`, `dataplane`, `zone`.
    pub subject: &'static str,
    /// Why it failed: a short fixed label such as `expired`, `revoked`, `bad_signature`.
    pub reason: &'static str,
}

/// Labels of an issued token.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenKind {
    /// `dataplane`, `zone` or `user`.
    pub kind: &'static str,
}

/// Labels of a network listener's counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Listener {
    /// The listener's fixed name, e.g. `kds` or `dp-server`.
    pub listener: &'static str,
}

/// Labels of a per-client limit refusal.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RateLimited {
    /// The listener's fixed name, e.g. `dp-server`.
    pub listener: &'static str,
    /// `rate` or `concurrency`.
    pub reason: &'static str,
}

/// Labels of an xDS counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct XdsLabels {
    /// `cds`, `eds` or `lds`.
    pub r#type: &'static str,
}

/// The counters and gauges of this process.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    auth_failures: Family<AuthFailure, Counter>,
    tokens_issued: Family<TokenKind, Counter>,
    connections_refused: Family<Listener, Counter>,
    handshake_failures: Family<Listener, Counter>,
    rate_limited: Family<RateLimited, Counter>,
    dp_certificates_issued: Counter,
    dp_certificate_issue_seconds: Histogram,
    dps_connected: Gauge,
    dp_certificate_soonest_expiry: Gauge,
    kds_global_connected: Gauge,
    kds_zone_streams: Gauge,
    xds_sent: Family<XdsLabels, Counter>,
    xds_acked: Family<XdsLabels, Counter>,
    xds_rejected: Family<XdsLabels, Counter>,
    xds_generation_seconds: Histogram,
    xds_streams: Gauge,
    kds_nacks_received: Counter,
    /// The expiry (unix seconds) of the certificate each connected proxy session holds.
    dp_certificate_expiries: Mutex<Expiries>,
}

/// The expiry of each session's certificate, also ordered by expiry.
#[derive(Default)]
struct Expiries {
    by_session: HashMap<String, i64>,
    ordered: BTreeSet<(i64, String)>,
}

impl Metrics {
    /// A fresh set of metrics, registered under the `kuma_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kuma");
        let auth_failures = Family::<AuthFailure, Counter>::default();
        registry.register(
            "auth_failures",
            "Rejected credentials, by subject and reason",
            auth_failures.clone(),
        );
        let tokens_issued = Family::<TokenKind, Counter>::default();
        registry.register(
            "tokens_issued",
            "Tokens issued by this control plane",
            tokens_issued.clone(),
        );
        let connections_refused = Family::<Listener, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections closed before TLS because the peer address is not allowed",
            connections_refused.clone(),
        );
        let handshake_failures = Family::<Listener, Counter>::default();
        registry.register(
            "tls_handshake_failures",
            "Accepted connections whose TLS handshake failed or timed out",
            handshake_failures.clone(),
        );
        let rate_limited = Family::<RateLimited, Counter>::default();
        registry.register(
            "rate_limited",
            "Connections or requests turned away because their source address went over the \
             listener's per-client rate or concurrency limit",
            rate_limited.clone(),
        );
        let dp_certificates_issued = Counter::default();
        registry.register(
            "dp_certificates_issued",
            "Data plane proxy certificates issued by the DP server",
            dp_certificates_issued.clone(),
        );
        let dp_certificate_issue_seconds =
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]);
        registry.register(
            "dp_certificate_issue_seconds",
            "Time to issue one data plane proxy certificate from its CSR",
            dp_certificate_issue_seconds.clone(),
        );
        let dps_connected = Gauge::default();
        registry.register(
            "dps_connected",
            "Data plane proxies with an authenticated DP server session",
            dps_connected.clone(),
        );
        let dp_certificate_soonest_expiry = Gauge::default();
        registry.register(
            "dp_certificate_soonest_expiry_timestamp_seconds",
            "Unix time at which the first certificate held by a connected data plane proxy \
             expires (0 when none holds one)",
            dp_certificate_soonest_expiry.clone(),
        );
        let kds_global_connected = Gauge::default();
        registry.register(
            "kds_global_connected",
            "On a federated zone: 1 while its KDS connection to the global is up, 0 otherwise",
            kds_global_connected.clone(),
        );
        let kds_zone_streams = Gauge::default();
        registry.register(
            "kds_zone_streams",
            "On the global: authenticated KDS streams from zones that are open now",
            kds_zone_streams.clone(),
        );
        let xds_sent = Family::<XdsLabels, Counter>::default();
        registry.register(
            "xds_responses_sent",
            "xDS responses (configuration pushes) sent to data plane proxies, by type",
            xds_sent.clone(),
        );
        let xds_acked = Family::<XdsLabels, Counter>::default();
        registry.register(
            "xds_responses_acknowledged",
            "xDS responses data plane proxies accepted, by type",
            xds_acked.clone(),
        );
        let xds_rejected = Family::<XdsLabels, Counter>::default();
        registry.register(
            "xds_responses_rejected",
            "xDS responses data plane proxies rejected (NACKed), by type",
            xds_rejected.clone(),
        );
        let xds_generation_seconds =
            Histogram::new([0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05]);
        registry.register(
            "xds_generation_seconds",
            "Time to generate one data plane proxy's configuration",
            xds_generation_seconds.clone(),
        );
        let xds_streams = Gauge::default();
        registry.register(
            "xds_streams",
            "Authenticated ADS streams of data plane proxies open now",
            xds_streams.clone(),
        );
        let kds_nacks_received = Counter::default();
        registry.register(
            "kds_nacks_received",
            "On the global: KDS responses a zone refused (NACKs), each resent after the backoff",
            kds_nacks_received.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                auth_failures,
                tokens_issued,
                connections_refused,
                handshake_failures,
                rate_limited,
                dp_certificates_issued,
                dp_certificate_issue_seconds,
                dps_connected,
                dp_certificate_soonest_expiry,
                kds_global_connected,
                kds_zone_streams,
                xds_sent,
                xds_acked,
                xds_rejected,
                xds_generation_seconds,
                xds_streams,
                kds_nacks_received,
                dp_certificate_expiries: Mutex::default(),
            }),
        }
    }

    /// Counts one rejected credential.
    pub fn auth_failed(&self, subject: &'static str, reason: &'static str) {
        self.inner.auth_failures.get_or_create(&AuthFailure { subject, reason }).inc();
    }

    /// How many credentials of `subject` were rejected for `reason` so far.
    pub fn auth_failures(&self, subject: &'static str, reason: &'static str) -> u64 {
        self.inner.auth_failures.get_or_create(&AuthFailure { subject, reason }).get()
    }

    /// Counts one issued token.
    pub fn token_issued(&self, kind: &'static str) {
        self.inner.tokens_issued.get_or_create(&TokenKind { kind }).inc();
    }

    /// Counts one connection refused by `listener`'s address allowlist.
    pub fn connection_refused(&self, listener: &'static str) {
        self.inner.connections_refused.get_or_create(&Listener { listener }).inc();
    }

    /// How many connections `listener` refused so far.
    pub fn connections_refused(&self, listener: &'static str) -> u64 {
        self.inner.connections_refused.get_or_create(&Listener { listener }).get()
    }

    /// Counts one failed (or timed out) TLS handshake on `listener`.
    pub fn tls_handshake_failed(&self, listener: &'static str) {
        self.inner.handshake_failures.get_or_create(&Listener { listener }).inc();
    }

    /// How many TLS handshakes failed on `listener` so far.
    pub fn tls_handshake_failures(&self, listener: &'static str) -> u64 {
        self.inner.handshake_failures.get_or_create(&Listener { listener }).get()
    }

    /// Counts one connection or request `listener` turned away for `reason`.
    pub fn rate_limited(&self, listener: &'static str, reason: &'static str) {
        self.inner.rate_limited.get_or_create(&RateLimited { listener, reason }).inc();
    }

    /// How many connections or requests `listener` turned away for `reason` so far.
    pub fn rate_limits(&self, listener: &'static str, reason: &'static str) -> u64 {
        self.inner.rate_limited.get_or_create(&RateLimited { listener, reason }).get()
    }

    /// Counts one data plane certificate issued.
    pub fn dp_certificate_issued(&self) {
        self.inner.dp_certificates_issued.inc();
    }

    /// How many data plane certificates were issued so far.
    pub fn dp_certificates_issued(&self) -> u64 {
        self.inner.dp_certificates_issued.get()
    }

    /// Records how long issuing one certificate took.
    pub fn dp_certificate_issue_time(&self, took: std::time::Duration) {
        self.inner.dp_certificate_issue_seconds.observe(took.as_secs_f64());
    }

    /// Proxy session `session` now holds a certificate that expires at `not_after` (unix
    /// seconds); `None` when the session ended or holds none.
    pub fn dp_certificate_held(&self, session: &str, not_after: Option<i64>) {
        let mut held = match self.inner.dp_certificate_expiries.lock() {
            Ok(held) => held,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(old) = held.by_session.remove(session) {
            held.ordered.remove(&(old, session.to_owned()));
        }
        if let Some(at) = not_after {
            held.by_session.insert(session.to_owned(), at);
            held.ordered.insert((at, session.to_owned()));
        }
        // Ordered, so the soonest is the first: O(log n) per call even with 10,000 sessions.
        let soonest = held.ordered.first().map_or(0, |(at, _)| *at);
        self.inner.dp_certificate_soonest_expiry.set(soonest);
    }

    /// The soonest expiry of a held certificate, unix seconds (0 when none).
    pub fn dp_certificate_soonest_expiry(&self) -> i64 {
        self.inner.dp_certificate_soonest_expiry.get()
    }

    /// Whether this zone's KDS connection to the global is up.
    pub fn kds_global_connected(&self, up: bool) {
        self.inner.kds_global_connected.set(i64::from(up));
    }

    /// One more (`+1`) or one fewer (`-1`) open KDS stream from a zone (on the global).
    pub fn kds_zone_stream(&self, delta: i64) {
        self.inner.kds_zone_streams.inc_by(delta);
    }

    /// A zone refused a KDS response of the global.
    pub fn kds_nack_received(&self) {
        self.inner.kds_nacks_received.inc();
    }

    /// One more (`+1`) or one fewer (`-1`) connected data plane proxy.
    pub fn dp_connected(&self, delta: i64) {
        self.inner.dps_connected.inc_by(delta);
    }

    /// How many data plane proxies are connected now.
    pub fn dps_connected(&self) -> i64 {
        self.inner.dps_connected.get()
    }

    /// Counts one xDS response of `ty` (`cds`, `eds`, `lds`) sent.
    pub fn xds_sent(&self, ty: &'static str) {
        self.inner.xds_sent.get_or_create(&XdsLabels { r#type: ty }).inc();
    }

    /// Counts one xDS response of `ty` a proxy accepted.
    pub fn xds_acked(&self, ty: &'static str) {
        self.inner.xds_acked.get_or_create(&XdsLabels { r#type: ty }).inc();
    }

    /// Counts one xDS response of `ty` a proxy rejected.
    pub fn xds_rejected(&self, ty: &'static str) {
        self.inner.xds_rejected.get_or_create(&XdsLabels { r#type: ty }).inc();
    }

    /// How many xDS responses of `ty` were sent, accepted and rejected so far.
    pub fn xds_responses(&self, ty: &'static str) -> (u64, u64, u64) {
        let labels = XdsLabels { r#type: ty };
        (
            self.inner.xds_sent.get_or_create(&labels).get(),
            self.inner.xds_acked.get_or_create(&labels).get(),
            self.inner.xds_rejected.get_or_create(&labels).get(),
        )
    }

    /// Records how long generating one proxy's configuration took.
    pub fn xds_generation_time(&self, took: std::time::Duration) {
        self.inner.xds_generation_seconds.observe(took.as_secs_f64());
    }

    /// One more (`+1`) or one fewer (`-1`) open ADS stream.
    pub fn xds_stream(&self, delta: i64) {
        self.inner.xds_streams.inc_by(delta);
    }

    /// How many ADS streams are open now.
    pub fn xds_streams(&self) -> i64 {
        self.inner.xds_streams.get()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.inner.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_up_in_the_exposition() {
        let metrics = Metrics::new();
        metrics.auth_failed("user", "expired");
        metrics.auth_failed("user", "expired");
        metrics.token_issued("dataplane");
        metrics.connection_refused("kds");
        metrics.tls_handshake_failed("kds");
        metrics.rate_limited("kds", "rate");
        metrics.dp_certificate_issued();
        metrics.dp_connected(1);
        let text = metrics.render();
        assert!(
            text.contains("kuma_auth_failures_total{subject=\"user\",reason=\"expired\"} 2"),
            "{text}"
        );
        assert!(text.contains("kuma_tokens_issued_total{kind=\"dataplane\"} 1"), "{text}");
        assert!(text.contains("kuma_connections_refused_total{listener=\"kds\"} 1"), "{text}");
        assert!(text.contains("kuma_tls_handshake_failures_total{listener=\"kds\"} 1"), "{text}");
        assert!(
            text.contains("kuma_rate_limited_total{listener=\"kds\",reason=\"rate\"} 1"),
            "{text}"
        );
        assert_eq!(metrics.auth_failures("user", "expired"), 2);
        assert_eq!(metrics.connections_refused("kds"), 1);
        assert_eq!(metrics.tls_handshake_failures("kds"), 1);
        assert!(text.contains("kuma_dp_certificates_issued_total 1"), "{text}");
        assert!(text.contains("kuma_dps_connected 1"), "{text}");
        assert_eq!(metrics.dp_certificates_issued(), 1);
        metrics.dp_connected(-1);
        assert_eq!(metrics.dps_connected(), 0);
    }

    #[test]
    fn the_soonest_expiry_follows_the_sessions_that_hold_certificates() {
        let metrics = Metrics::new();
        assert_eq!(metrics.dp_certificate_soonest_expiry(), 0);
        metrics.dp_certificate_held("a", Some(2_000));
        metrics.dp_certificate_held("b", Some(1_000));
        assert_eq!(metrics.dp_certificate_soonest_expiry(), 1_000);
        metrics.dp_certificate_held("b", Some(3_000));
        assert_eq!(metrics.dp_certificate_soonest_expiry(), 2_000, "b rotated");
        metrics.dp_certificate_held("a", None);
        assert_eq!(metrics.dp_certificate_soonest_expiry(), 3_000, "a left");
        metrics.dp_certificate_held("b", None);
        assert_eq!(metrics.dp_certificate_soonest_expiry(), 0);
        metrics.dp_certificate_issue_time(std::time::Duration::from_millis(2));
        metrics.kds_global_connected(true);
        metrics.kds_zone_stream(1);
        let text = metrics.render();
        assert!(text.contains("kuma_kds_global_connected 1"), "{text}");
        assert!(text.contains("kuma_kds_zone_streams 1"), "{text}");
        assert!(text.contains("kuma_dp_certificate_issue_seconds_count 1"), "{text}");
        assert!(text.contains("kuma_dp_certificate_soonest_expiry_timestamp_seconds 0"), "{text}");
    }
}
