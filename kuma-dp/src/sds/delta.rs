//! Delta (`DeltaSecrets`): each response carries only the secrets whose version changed since
//! this stream last got them, and names the ones that went away. The first request may list the
//! versions Envoy already holds (after a reconnect), which are then not sent again.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, Resource,
};

use super::service::Flavour;
use super::{SECRET_TYPE_URL, Secrets};

/// One delta stream.
#[derive(Debug, Default)]
pub(super) struct Delta {
    /// A request was seen (the first one may be a wildcard subscription).
    started: bool,
    wildcard: bool,
    subscribed: BTreeSet<String>,
    /// Version Envoy holds, by name.
    sent: BTreeMap<String, String>,
    nonce: u64,
}

impl Delta {
    fn wants(&self, name: &str) -> bool {
        self.wildcard || self.subscribed.contains(name)
    }

    fn push(&mut self, secrets: &Secrets) -> Option<DeltaDiscoveryResponse> {
        let mut resources = Vec::new();
        for (name, served) in secrets {
            if self.wants(name) && self.sent.get(name) != Some(&served.version) {
                self.sent.insert(name.clone(), served.version.clone());
                resources.push(Resource {
                    name: name.clone(),
                    version: served.version.clone(),
                    resource: Some(served.resource.clone()),
                    ..Resource::default()
                });
            }
        }
        let gone: Vec<String> =
            self.sent.keys().filter(|name| !secrets.contains_key(*name)).cloned().collect();
        for name in &gone {
            self.sent.remove(name);
        }
        if resources.is_empty() && gone.is_empty() {
            return None;
        }
        self.nonce += 1;
        // What Envoy holds after this response, for its `version_text`.
        let mut hasher = DefaultHasher::new();
        self.sent.hash(&mut hasher);
        Some(DeltaDiscoveryResponse {
            system_version_info: format!("{:016x}", hasher.finish()),
            resources,
            type_url: SECRET_TYPE_URL.to_owned(),
            removed_resources: gone,
            nonce: self.nonce.to_string(),
            ..DeltaDiscoveryResponse::default()
        })
    }
}

impl Flavour for Delta {
    type Request = DeltaDiscoveryRequest;
    type Response = DeltaDiscoveryResponse;

    fn on_request(
        &mut self,
        request: &DeltaDiscoveryRequest,
        secrets: &Secrets,
    ) -> Option<Self::Response> {
        if !request.type_url.is_empty() && request.type_url != SECRET_TYPE_URL {
            tracing::warn!(type_url = %request.type_url, "SDS request for another type; ignored");
            return None;
        }
        if let Some(error) = &request.error_detail {
            tracing::warn!(
                nonce = %request.response_nonce,
                error = %error.message,
                "Envoy rejected the secrets kuma-dp sent"
            );
        }
        if !self.started {
            self.started = true;
            self.wildcard = request.resource_names_subscribe.is_empty();
            self.sent.extend(request.initial_resource_versions.clone());
        }
        for name in &request.resource_names_subscribe {
            match name.as_str() {
                "*" => self.wildcard = true,
                _ => {
                    self.subscribed.insert(name.clone());
                }
            }
        }
        for name in &request.resource_names_unsubscribe {
            match name.as_str() {
                "*" => self.wildcard = false,
                _ => {
                    self.subscribed.remove(name);
                }
            }
            self.sent.remove(name);
        }
        self.push(secrets)
    }

    fn on_change(&mut self, secrets: &Secrets) -> Option<Self::Response> {
        self.push(secrets)
    }
}
