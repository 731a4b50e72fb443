//! State-of-the-world ADS (`StreamAggregatedResources`): per type, the names Envoy asked for
//! (none for LDS/CDS: everything), the version and nonce last sent. A type is sent when Envoy
//! first asks for it or changes the names it wants, and whenever the snapshot's version of the
//! type moves; an ACK or NACK is matched by nonce, a stale nonce is ignored, and a NACKed
//! version is not sent again (the next snapshot change sends a new one).

use std::collections::{BTreeSet, HashMap};

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};

use super::{Event, Nonces, Protocol};
use crate::xds::{Snapshot, XdsType};

/// The stream's state.
#[derive(Default)]
pub struct Sotw {
    types: HashMap<XdsType, TypeState>,
    nonces: Nonces,
}

#[derive(Default)]
struct TypeState {
    /// `None`: every resource (wildcard).
    names: Option<BTreeSet<String>>,
    sent_version: String,
    nonce: String,
}

impl Protocol for Sotw {
    type Request = DiscoveryRequest;
    type Response = DiscoveryResponse;

    fn node(request: &DiscoveryRequest) -> Option<&envoy_types::pb::envoy::config::core::v3::Node> {
        request.node.as_ref()
    }

    fn request(
        &mut self,
        request: DiscoveryRequest,
        snapshot: &Snapshot,
        out: &mut Vec<DiscoveryResponse>,
        events: &mut Vec<Event>,
    ) {
        let Some(ty) = XdsType::from_url(&request.type_url) else {
            // A type this control plane does not serve (RDS, SDS): nothing to answer.
            return;
        };
        let first = !self.types.contains_key(&ty);
        let state = self.types.entry(ty).or_default();
        if !request.response_nonce.is_empty() && request.response_nonce != state.nonce {
            return;
        }
        let names = (!ty.wildcard() || !request.resource_names.is_empty())
            .then(|| request.resource_names.iter().cloned().collect::<BTreeSet<_>>());
        let names_changed = names != state.names;
        state.names = names;
        if !request.response_nonce.is_empty() {
            match &request.error_detail {
                Some(error) => {
                    events.push(Event::Nacked(ty, error.message.clone()));
                    if !names_changed {
                        return;
                    }
                }
                None => events.push(Event::Acked(ty)),
            }
        }
        let moved = snapshot.get(ty).version != state.sent_version;
        if first || names_changed || (moved && request.error_detail.is_none()) {
            out.push(self.respond(ty, snapshot, events));
        }
    }

    fn push(
        &mut self,
        snapshot: &Snapshot,
        out: &mut Vec<DiscoveryResponse>,
        events: &mut Vec<Event>,
    ) {
        for ty in XdsType::ALL {
            let Some(state) = self.types.get(&ty) else { continue };
            if snapshot.get(ty).version != state.sent_version {
                out.push(self.respond(ty, snapshot, events));
            }
        }
    }
}

impl Sotw {
    fn respond(
        &mut self,
        ty: XdsType,
        snapshot: &Snapshot,
        events: &mut Vec<Event>,
    ) -> DiscoveryResponse {
        let nonce = self.nonces.next();
        let state = self.types.entry(ty).or_default();
        let set = snapshot.get(ty);
        let resources = set
            .resources
            .iter()
            .filter(|(name, _)| state.names.as_ref().is_none_or(|names| names.contains(*name)))
            .map(|(_, entry)| entry.body.clone())
            .collect();
        state.sent_version = set.version.clone();
        state.nonce = nonce.clone();
        events.push(Event::Sent(ty));
        DiscoveryResponse {
            version_info: set.version.clone(),
            resources,
            type_url: ty.url(),
            nonce,
            ..Default::default()
        }
    }
}
