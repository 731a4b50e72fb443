//! Who a proxy is: a data plane proxy's dataplane token, checked with its mesh's keys and
//! revocations, then against the Dataplane it claims (name, mesh, inbound tags, workload label);
//! a zone ingress's zone token, which must have the `ingress` scope and name this zone (or no
//! zone). Kuma's messages (`pkg/xds/auth/universal/authenticator.go`). Every refusal is logged,
//! counted and audited. Finding the Dataplane is the session's job, not this module's.

use kuma_core::identity::Subject;
use kuma_core::tokens::{DataplaneClaims, ZoneClaims, authorize_dataplane, authorize_zone_proxy};
use shared::audit::{AuditLog, Event};
use shared::credentials::{Credentials, TokenKind};
use shared::metrics::Metrics;
use time::OffsetDateTime;
use tonic::Status;
use tonic::metadata::MetadataMap;

/// The `subject` label of refusals: data plane proxies and zone proxies (ingresses).
const DATAPLANE: &str = "dataplane";
const ZONE_PROXY: &str = "zone_proxy";

/// The scope a zone token needs to authenticate a zone ingress.
const INGRESS_SCOPE: &str = "ingress";

/// Checks proxy tokens. `enabled: false` is `KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE=none`,
/// `zone_proxies_enabled: false` is `KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE=none`.
#[derive(Clone)]
pub struct Authenticator {
    pub(super) enabled: bool,
    pub(super) zone_proxies_enabled: bool,
    /// This control plane's zone, which a zone token's `Zone` must name.
    pub(super) zone: String,
    pub(super) credentials: Credentials,
    pub(super) metrics: Metrics,
    pub(super) audit: AuditLog,
}

impl Authenticator {
    /// The stream's token: exactly one `authorization` value, `Bearer ` optional. `None` when
    /// authentication of this kind of proxy (`zone_proxy`: a zone ingress) is off.
    pub fn token(
        &self,
        metadata: &MetadataMap,
        zone_proxy: bool,
        source: &str,
    ) -> Result<Option<String>, Status> {
        let enabled = if zone_proxy { self.zone_proxies_enabled } else { self.enabled };
        if !enabled {
            return Ok(None);
        }
        let values: Vec<&str> =
            metadata.get_all("authorization").iter().filter_map(|v| v.to_str().ok()).collect();
        let [value] = values.as_slice() else {
            let detail = format!(
                "request must have exactly 1 \"authorization\" header, got {}",
                values.len()
            );
            let subject = if zone_proxy { ZONE_PROXY } else { DATAPLANE };
            return Err(self.refuse(subject, "missing_token", detail, source));
        };
        Ok(Some(value.strip_prefix("Bearer ").unwrap_or(value).trim().to_owned()))
    }

    /// Validates `token` with the mesh's keys and revocations now, then its claims against
    /// `dp`. Returns when the token expires. Nothing is checked without a token (auth off).
    pub async fn check(
        &self,
        token: Option<&str>,
        dp: &Subject<'_>,
        source: &str,
    ) -> Result<Option<OffsetDateTime>, Status> {
        let Some(token) = token else {
            return Ok(None);
        };
        let kind = TokenKind::Dataplane { mesh: dp.mesh.to_owned() };
        let validator = match self.credentials.validator(kind).await {
            Ok(validator) => validator,
            Err(err) => {
                tracing::error!(mesh = dp.mesh, error = %err, "could not load the dataplane token keys");
                return Err(Status::internal("could not check the token"));
            }
        };
        let valid = match validator.validate::<DataplaneClaims>(token, OffsetDateTime::now_utc()) {
            Ok(valid) => valid,
            Err(err) => {
                let detail = format!("authentication failed: {err}");
                return Err(self.refuse(DATAPLANE, err.reason(), detail, source));
            }
        };
        if let Err(err) = authorize_dataplane(&valid.claims, &dp.token_view()) {
            let detail = format!("authentication failed: {err}");
            self.record(DATAPLANE, "claims", &detail, source);
            return Err(Status::permission_denied(detail));
        }
        Ok(valid.expires)
    }

    /// Validates a zone ingress's zone token now: this zone's keys and revocations, the
    /// `ingress` scope, and a `Zone` claim that is empty or this zone. Returns when the token
    /// expires. Nothing is checked without a token (auth off).
    pub async fn check_zone_proxy(
        &self,
        token: Option<&str>,
        source: &str,
    ) -> Result<Option<OffsetDateTime>, Status> {
        let Some(token) = token else {
            return Ok(None);
        };
        let validator = match self.credentials.validator(TokenKind::Zone).await {
            Ok(validator) => validator,
            Err(err) => {
                tracing::error!(error = %err, "could not load the zone token keys");
                return Err(Status::internal("could not check the token"));
            }
        };
        let valid = match validator.validate::<ZoneClaims>(token, OffsetDateTime::now_utc()) {
            Ok(valid) => valid,
            Err(err) => {
                let detail = format!("authentication failed: {err}");
                return Err(self.refuse(ZONE_PROXY, err.reason(), detail, source));
            }
        };
        if let Err(err) = authorize_zone_proxy(&valid.claims, INGRESS_SCOPE, &self.zone) {
            let detail = format!("authentication failed: {err}");
            self.record(ZONE_PROXY, "claims", &detail, source);
            return Err(Status::permission_denied(detail));
        }
        Ok(valid.expires)
    }

    /// Records that a session's token expired, and the status that ends the stream.
    pub fn expired(&self, zone_proxy: bool, source: &str) -> Status {
        let detail = "authentication failed: could not parse token: token has invalid claims: \
                      token is expired";
        let subject = if zone_proxy { ZONE_PROXY } else { DATAPLANE };
        self.refuse(subject, "expired", detail.to_owned(), source)
    }

    fn refuse(
        &self,
        subject: &'static str,
        reason: &'static str,
        detail: String,
        source: &str,
    ) -> Status {
        self.record(subject, reason, &detail, source);
        Status::unauthenticated(detail)
    }

    /// Logs, counts and audits a refusal of a `subject` (`dataplane` or `zone_proxy`).
    fn record(&self, subject: &'static str, reason: &'static str, detail: &str, source: &str) {
        tracing::warn!(subject, reason, detail, source, "refused a proxy");
        self.metrics.auth_failed(subject, reason);
        self.audit.record(Event::AuthFailed {
            subject,
            reason,
            detail: detail.to_owned(),
            source: source.to_owned(),
        });
    }
}
