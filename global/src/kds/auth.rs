//! Who a KDS peer is: the `client-id` zone name, proven by a zone token of scope `cp` (unless
//! `KUMA_MULTIZONE_GLOBAL_KDS_AUTH_TYPE=none`) and, when a client CA is configured, by a client
//! certificate whose DNS SAN is the zone name, and connecting from one of the networks its
//! `Zone` resource lists in `allowedCidrs` (if any). Every refusal is logged, counted and audited.

use std::net::IpAddr;

use kuma_core::resources::{ResourceType, Spec};
use kuma_core::tokens::{ZoneClaims, authorize_zone_cp};
use shared::audit::{AuditLog, Event};
use shared::config::{KdsAuth, ZoneName};
use shared::credentials::{Credentials, TokenKind};
use shared::metrics::Metrics;
use shared::net::{Allowlist, ConnInfo};
use store::{self, Key, Store};
use time::OffsetDateTime;
use tonic::{Request, Status};

/// The metadata key that carries the zone name.
pub const CLIENT_ID: &str = "client-id";

/// A zone that passed authentication.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The zone name (`client-id`).
    pub zone: String,
    /// The token it presented, to check again while the stream lives.
    pub token: Option<String>,
    /// When that token expires.
    pub expires: Option<OffsetDateTime>,
    /// Its address, for logs and the audit trail.
    pub source: String,
    /// Whether exactly one `authorization` header came.
    pub token_provided: bool,
    /// The zone control plane's version, from the `version` header Kuma zones send (at most
    /// 64 printable characters are kept; it is only shown).
    pub version: Option<String>,
}

/// Authenticates KDS calls.
#[derive(Clone)]
pub struct Authenticator {
    pub(super) mode: KdsAuth,
    pub(super) require_client_cert: bool,
    pub(super) credentials: Credentials,
    pub(super) metrics: Metrics,
    pub(super) audit: AuditLog,
}

impl Authenticator {
    /// Checks the zone name, the token and the client certificate of `request`, then that it
    /// comes from a network its `Zone` in `store` allows.
    pub async fn authenticate<T>(
        &self,
        store: &Store,
        request: &Request<T>,
    ) -> Result<Peer, Status> {
        let info = request.extensions().get::<ConnInfo>();
        let source = info.map(|i| i.remote_addr.to_string()).unwrap_or_default();
        let remote_ip = info.map(|i| i.remote_addr.ip());
        let zone = match request.metadata().get(CLIENT_ID).and_then(|v| v.to_str().ok()) {
            None => {
                return Err(self.refuse(
                    "missing_client_id",
                    "\"client-id\" is not present in metadata".into(),
                    &source,
                ));
            }
            Some(raw) => match ZoneName::parse(raw) {
                Ok(name) => name.as_str().to_owned(),
                Err(err) => {
                    return Err(self.refuse(
                        "bad_client_id",
                        format!("client-id {raw:?}: {err}"),
                        &source,
                    ));
                }
            },
        };
        if self.require_client_cert {
            self.check_client_cert(&zone, info, &source)?;
        }
        let headers: Vec<&str> = request
            .metadata()
            .get_all("authorization")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let token_provided = headers.len() == 1;
        let version = request
            .metadata()
            .get("version")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().filter(|c| !c.is_control()).take(64).collect::<String>())
            .filter(|v| !v.is_empty());
        let mut peer = Peer { zone, token: None, expires: None, source, token_provided, version };
        if self.mode == KdsAuth::None {
            self.check_network(store, &peer.zone, remote_ip, &peer.source).await?;
            return Ok(peer);
        }
        let [header] = headers.as_slice() else {
            let detail = format!(
                "request must have exactly 1 \"authorization\" header, got {}",
                headers.len()
            );
            return Err(self.refuse("missing_token", detail, &peer.source));
        };
        let token = header.strip_prefix("Bearer ").unwrap_or(header).trim().to_owned();
        peer.expires = self.check_token(&peer.zone, &token, &peer.source).await?;
        peer.token = Some(token);
        self.check_network(store, &peer.zone, remote_ip, &peer.source).await?;
        tracing::info!(zone = %peer.zone, source = %peer.source, "Zone CP successfully authenticated");
        Ok(peer)
    }

    /// Checks the peer's token again (a revocation, a deleted key or the expiry ends the stream).
    pub async fn recheck(&self, peer: &Peer) -> Result<(), Status> {
        match &peer.token {
            Some(token) => self.check_token(&peer.zone, token, &peer.source).await.map(|_| ()),
            None => Ok(()),
        }
    }

    async fn check_token(
        &self,
        zone: &str,
        token: &str,
        source: &str,
    ) -> Result<Option<OffsetDateTime>, Status> {
        let validator = match self.credentials.validator(TokenKind::Zone).await {
            Ok(validator) => validator,
            Err(err) => {
                tracing::error!(error = %err, "could not load the zone token keys");
                return Err(Status::internal("could not check the token"));
            }
        };
        let valid = match validator.validate::<ZoneClaims>(token, OffsetDateTime::now_utc()) {
            Ok(valid) => valid,
            Err(err) => return Err(self.refuse(err.reason(), err.to_string(), source)),
        };
        if let Err(err) = authorize_zone_cp(&valid.claims, zone) {
            return Err(self.refuse("wrong_zone", err.to_string(), source));
        }
        Ok(valid.expires)
    }

    /// Our extension: a `Zone` with `allowedCidrs` admits its control plane only from those
    /// networks. A zone not created yet, or without CIDRs, is left to the listener's allowlist.
    async fn check_network(
        &self,
        store: &Store,
        zone: &str,
        ip: Option<IpAddr>,
        source: &str,
    ) -> Result<(), Status> {
        let record = match store.get(&Key::resource(ResourceType::Zone, "", zone)).await {
            Ok(record) => record,
            Err(store::Error::NotFound { .. }) => return Ok(()),
            Err(err) => {
                tracing::error!(zone, error = %err, "could not read the zone to check its networks");
                return Err(Status::internal("could not check the zone"));
            }
        };
        let spec = match Spec::from_value(ResourceType::Zone, record.spec) {
            Ok(Spec::Zone(spec)) => spec,
            other => {
                let error = other.err().map(|e| e.to_string()).unwrap_or_default();
                tracing::error!(zone, %error, "the stored zone is not a valid Zone spec");
                return Err(Status::internal("could not check the zone"));
            }
        };
        let networks = Allowlist::new(spec.allowed_cidrs);
        if networks.is_open() || ip.is_some_and(|ip| networks.allows(ip)) {
            return Ok(());
        }
        let from =
            ip.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_canonical().to_string());
        let detail = format!("zone {zone:?} may not connect from {from}");
        self.record_refusal("zone_cidr", &detail, source);
        Err(Status::permission_denied(detail))
    }

    fn check_client_cert(
        &self,
        zone: &str,
        info: Option<&ConnInfo>,
        source: &str,
    ) -> Result<(), Status> {
        let leaf = info.and_then(|i| i.peer_certificates.as_ref()).and_then(|c| c.first().cloned());
        let Some(leaf) = leaf else {
            return Err(self.refuse(
                "no_client_cert",
                "a client certificate is required".into(),
                source,
            ));
        };
        let names = kuma_core::tls::dns_names(&leaf).unwrap_or_default();
        if names.iter().any(|n| n == zone) {
            return Ok(());
        }
        let detail = format!("client certificate names {names:?}, not the zone {zone:?}");
        Err(self.refuse("client_cert_zone_mismatch", detail, source))
    }

    /// Records an authentication failure and answers `unauthenticated`.
    fn refuse(&self, reason: &'static str, detail: String, source: &str) -> Status {
        self.record_refusal(reason, &detail, source);
        Status::unauthenticated(detail)
    }

    /// Logs, counts and audits a refusal.
    fn record_refusal(&self, reason: &'static str, detail: &str, source: &str) {
        tracing::warn!(reason, detail, source, "refused a zone control plane");
        self.metrics.auth_failed("zone", reason);
        self.audit.record(Event::AuthFailed {
            subject: "zone",
            reason,
            detail: detail.to_owned(),
            source: source.to_owned(),
        });
    }
}
