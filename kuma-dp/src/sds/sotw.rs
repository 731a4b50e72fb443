//! State of the world (`StreamSecrets`): each response carries every subscribed secret kuma-dp
//! has, under one version for the set. A request with new names, or the first one on a stream,
//! is answered at once; an ACK is not; a NACK is logged and not answered with the same set again.
//! Nothing is sent while none of the names is available (Envoy would reject an empty answer).

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};

use super::service::Flavour;
use super::{SECRET_TYPE_URL, Secrets};

/// One SotW stream.
#[derive(Debug, Default)]
pub(super) struct Sotw {
    /// A request was seen: nothing is pushed before Envoy has asked.
    started: bool,
    /// The names of the last request; empty means every secret.
    names: BTreeSet<String>,
    /// The version of the last response.
    sent: Option<String>,
    nonce: u64,
}

impl Sotw {
    fn respond(&mut self, secrets: &Secrets, force: bool) -> Option<DiscoveryResponse> {
        let picked: Vec<_> = secrets
            .iter()
            .filter(|(name, _)| self.names.is_empty() || self.names.contains(*name))
            .collect();
        if picked.is_empty() {
            self.sent = None;
            return None;
        }
        let mut hasher = DefaultHasher::new();
        for (name, served) in &picked {
            (name, &served.version).hash(&mut hasher);
        }
        let version = format!("{:016x}", hasher.finish());
        if !force && self.sent.as_ref() == Some(&version) {
            return None;
        }
        self.nonce += 1;
        self.sent = Some(version.clone());
        Some(DiscoveryResponse {
            version_info: version,
            resources: picked.into_iter().map(|(_, served)| served.resource.clone()).collect(),
            type_url: SECRET_TYPE_URL.to_owned(),
            nonce: self.nonce.to_string(),
            ..DiscoveryResponse::default()
        })
    }
}

impl Flavour for Sotw {
    type Request = DiscoveryRequest;
    type Response = DiscoveryResponse;

    fn on_request(
        &mut self,
        request: &DiscoveryRequest,
        secrets: &Secrets,
    ) -> Option<Self::Response> {
        if !request.type_url.is_empty() && request.type_url != SECRET_TYPE_URL {
            tracing::warn!(type_url = %request.type_url, "SDS request for another type; ignored");
            return None;
        }
        if let Some(error) = &request.error_detail {
            tracing::warn!(
                version = %request.version_info,
                names = ?request.resource_names,
                error = %error.message,
                "Envoy rejected the secrets kuma-dp sent"
            );
        }
        let names: BTreeSet<String> = request.resource_names.iter().cloned().collect();
        let first = request.response_nonce.is_empty() || !self.started;
        self.started = true;
        if names != self.names || first {
            self.names = names;
            return self.respond(secrets, true);
        }
        None
    }

    fn on_change(&mut self, secrets: &Secrets) -> Option<Self::Response> {
        if !self.started {
            return None;
        }
        self.respond(secrets, false)
    }
}
