//! Incremental ADS (`DeltaAggregatedResources`): per type, what Envoy subscribed to (everything
//! for LDS/CDS unless it says otherwise) and the version of each resource it was sent (or told
//! it has, after a reconnect). Every response carries only resources whose version differs and
//! the names that disappeared. The first request of a type is always answered, even with
//! nothing, since Envoy waits for it. A NACKed resource is not sent again until it changes.

use std::collections::{BTreeSet, HashMap};

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, Resource,
};

use super::{Event, Nonces, Protocol};
use crate::xds::{Snapshot, XdsType};

/// The stream's state.
#[derive(Default)]
pub struct Delta {
    types: HashMap<XdsType, TypeState>,
    nonces: Nonces,
}

#[derive(Default)]
struct TypeState {
    wildcard: bool,
    subscribed: BTreeSet<String>,
    /// What Envoy holds: name → version.
    known: HashMap<String, String>,
    nonce: String,
}

impl Protocol for Delta {
    type Request = DeltaDiscoveryRequest;
    type Response = DeltaDiscoveryResponse;

    fn node(
        request: &DeltaDiscoveryRequest,
    ) -> Option<&envoy_types::pb::envoy::config::core::v3::Node> {
        request.node.as_ref()
    }

    fn request(
        &mut self,
        request: DeltaDiscoveryRequest,
        snapshot: &Snapshot,
        out: &mut Vec<DeltaDiscoveryResponse>,
        events: &mut Vec<Event>,
    ) {
        let Some(ty) = XdsType::from_url(&request.type_url) else { return };
        let first = !self.types.contains_key(&ty);
        let state = self.types.entry(ty).or_default();
        if first {
            state.wildcard = ty.wildcard() && request.resource_names_subscribe.is_empty();
            state.known = request.initial_resource_versions.clone().into_iter().collect();
        } else if !request.response_nonce.is_empty() && request.response_nonce == state.nonce {
            match &request.error_detail {
                Some(error) => events.push(Event::Nacked(ty, error.message.clone())),
                None => events.push(Event::Acked(ty)),
            }
        }
        let mut changed = false;
        for name in &request.resource_names_subscribe {
            if name == "*" {
                changed |= !state.wildcard;
                state.wildcard = true;
            } else {
                changed |= state.subscribed.insert(name.clone());
            }
        }
        for name in &request.resource_names_unsubscribe {
            if name == "*" {
                state.wildcard = false;
            } else {
                state.subscribed.remove(name);
            }
            state.known.remove(name);
        }
        if let Some(response) = self.diff(ty, snapshot, first || changed, events) {
            out.push(response);
        }
    }

    fn push(
        &mut self,
        snapshot: &Snapshot,
        out: &mut Vec<DeltaDiscoveryResponse>,
        events: &mut Vec<Event>,
    ) {
        for ty in XdsType::ALL {
            if self.types.contains_key(&ty)
                && let Some(response) = self.diff(ty, snapshot, false, events)
            {
                out.push(response);
            }
        }
    }
}

impl Delta {
    /// What `ty` needs to catch up with `snapshot`; `None` when nothing differs (unless `always`).
    fn diff(
        &mut self,
        ty: XdsType,
        snapshot: &Snapshot,
        always: bool,
        events: &mut Vec<Event>,
    ) -> Option<DeltaDiscoveryResponse> {
        let state = self.types.get_mut(&ty)?;
        let set = snapshot.get(ty);
        let wanted = |name: &str| state.wildcard || state.subscribed.contains(name);
        let mut resources = Vec::new();
        for (name, entry) in &set.resources {
            if wanted(name) && state.known.get(name) != Some(&entry.version) {
                resources.push(Resource {
                    name: name.clone(),
                    version: entry.version.clone(),
                    resource: Some(entry.body.clone()),
                    ..Default::default()
                });
            }
        }
        let removed: Vec<String> =
            state.known.keys().filter(|name| !set.resources.contains_key(*name)).cloned().collect();
        if resources.is_empty() && removed.is_empty() && !always {
            return None;
        }
        for resource in &resources {
            state.known.insert(resource.name.clone(), resource.version.clone());
        }
        for name in &removed {
            state.known.remove(name);
        }
        let nonce = self.nonces.next();
        let state = self.types.get_mut(&ty)?;
        state.nonce = nonce.clone();
        events.push(Event::Sent(ty));
        Some(DeltaDiscoveryResponse {
            system_version_info: set.version.clone(),
            resources,
            type_url: ty.url(),
            removed_resources: removed,
            nonce,
            ..Default::default()
        })
    }
}
