//! The delta xDS exchange KDS runs in both directions: the [`Publisher`] half (answers
//! subscriptions and pushes changes) and the [`Subscriber`] half (subscribes, decodes, ACKs or
//! NACKs). The global publishes on `GlobalToZoneSync` and subscribes on `ZoneToGlobalSync`; a zone
//! does the opposite. Kuma's wire rules: type URLs are Kuma type names, resources are
//! `KumaResource`s named `<name>.<mesh>` with content-hash versions, a subscription is answered at
//! once (even when empty), and the first answer of a stream is the peer's full state.
//!
//! This module only builds and reads messages; streams, stores and authentication are the
//! caller's.

use std::collections::{BTreeMap, HashMap, HashSet};

use kuma_core::resources::{Resource, ResourceType};
use proto::envoy::config::core::v3::Node;
use proto::envoy::service::discovery::v3::{
    self as discovery, DeltaDiscoveryRequest, DeltaDiscoveryResponse,
};
use proto::google::rpc::Status as RpcStatus;

use crate::kds::{self, delta_resource};

/// gRPC `INVALID_ARGUMENT`, the code of a NACK's `error_detail`.
const INVALID_ARGUMENT: i32 = 3;

/// What a request from the subscribing peer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A (re)subscription: answer with the full state of the type.
    Subscribe(ResourceType),
    /// The peer applied our last response of the type.
    Ack(ResourceType),
    /// The peer refused our last response of the type.
    Nack {
        /// The type.
        kind: ResourceType,
        /// The peer's `error_detail`.
        message: String,
    },
    /// A type we do not serve.
    Unknown {
        /// The type URL asked for.
        type_url: String,
    },
}

/// Reads a request of the subscribing peer.
pub fn classify(req: &DeltaDiscoveryRequest) -> Request {
    let Some(kind) = kds::Type::from_type_url(&req.type_url).and_then(kds::Type::resource_type)
    else {
        return Request::Unknown { type_url: req.type_url.clone() };
    };
    match &req.error_detail {
        Some(status) => Request::Nack { kind, message: status.message.clone() },
        None if req.response_nonce.is_empty() => Request::Subscribe(kind),
        None => Request::Ack(kind),
    }
}

/// The publishing half: remembers, per type, which versions the peer holds.
#[derive(Debug, Default)]
pub struct Publisher {
    sent: HashMap<ResourceType, BTreeMap<String, String>>,
    nonce: u64,
}

impl Publisher {
    /// Forgets what the peer holds of `kind`, so the next [`update`](Self::update) is a full
    /// state (after a subscription or a NACK).
    pub fn forget(&mut self, kind: ResourceType) {
        self.sent.remove(&kind);
    }

    /// The response that brings the peer from what it holds to `items`; `None` when nothing
    /// changed. The first response of a type is always produced, even when empty.
    pub fn update(
        &mut self,
        kind: ResourceType,
        items: &[Resource],
    ) -> Option<DeltaDiscoveryResponse> {
        let encoded: Vec<discovery::Resource> = items.iter().map(delta_resource).collect();
        self.update_encoded(kind, &encoded)
    }

    /// [`update`](Self::update) from resources already encoded with
    /// [`delta_resource`], so that one encoding serves many peers. Only
    /// the resources whose version the peer does not hold are copied into the response.
    pub fn update_encoded<'a>(
        &mut self,
        kind: ResourceType,
        items: impl IntoIterator<Item = &'a discovery::Resource>,
    ) -> Option<DeltaDiscoveryResponse> {
        let first = !self.sent.contains_key(&kind);
        let held = self.sent.entry(kind).or_default();
        let mut present = HashSet::new();
        let mut resources = Vec::new();
        for item in items {
            present.insert(item.name.as_str());
            if held.get(&item.name) != Some(&item.version) {
                resources.push(item.clone());
            }
        }
        let removed: Vec<String> =
            held.keys().filter(|name| !present.contains(name.as_str())).cloned().collect();
        for name in &removed {
            held.remove(name);
        }
        for resource in &resources {
            held.insert(resource.name.clone(), resource.version.clone());
        }
        if !first && resources.is_empty() && removed.is_empty() {
            return None;
        }
        self.nonce += 1;
        Some(DeltaDiscoveryResponse {
            type_url: kds::Type::from(kind).type_url().to_owned(),
            resources,
            removed_resources: removed,
            nonce: self.nonce.to_string(),
            ..DeltaDiscoveryResponse::default()
        })
    }
}

/// What a response carried, decoded and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The type.
    pub kind: ResourceType,
    /// Resources added or changed.
    pub upserts: Vec<Resource>,
    /// Wire names (`<name>.<mesh>`) of removed resources.
    pub removed: Vec<String>,
    /// Whether this is the first response since subscribing: the peer's whole state.
    pub full_state: bool,
    /// To ACK with.
    pub nonce: String,
}

/// A response we refuse: NACK it with `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The response's type URL.
    pub type_url: String,
    /// The response's nonce.
    pub nonce: String,
    /// Why, for `error_detail`.
    pub message: String,
}

/// The subscribing half.
#[derive(Debug, Clone)]
pub struct Subscriber {
    node: Node,
    /// Only these types are accepted: a peer must not write a type it is not the source of.
    subscribed: HashSet<ResourceType>,
    awaiting_full_state: HashSet<ResourceType>,
}

impl Subscriber {
    /// A subscriber identifying itself with `node` (its id is the zone name, on both sides).
    pub fn new(node: Node) -> Self {
        Self { node, subscribed: HashSet::new(), awaiting_full_state: HashSet::new() }
    }

    /// Subscribes to every resource of `kind`.
    pub fn subscribe(&mut self, kind: ResourceType) -> DeltaDiscoveryRequest {
        self.subscribed.insert(kind);
        self.awaiting_full_state.insert(kind);
        DeltaDiscoveryRequest {
            node: Some(self.node.clone()),
            type_url: kds::Type::from(kind).type_url().to_owned(),
            resource_names_subscribe: vec!["*".to_owned()],
            ..DeltaDiscoveryRequest::default()
        }
    }

    /// Decodes and validates a response; one bad resource rejects the whole response, so the
    /// store never holds half of an update. A response of a type this side never subscribed to is
    /// rejected too: the peer is not the source of that type.
    pub fn receive(&mut self, resp: DeltaDiscoveryResponse) -> Result<Received, Rejected> {
        let reject = |message: String| Rejected {
            type_url: resp.type_url.clone(),
            nonce: resp.nonce.clone(),
            message,
        };
        let Some(kind) =
            kds::Type::from_type_url(&resp.type_url).and_then(kds::Type::resource_type)
        else {
            return Err(reject(format!("unknown resource type {:?}", resp.type_url)));
        };
        if !self.subscribed.contains(&kind) {
            return Err(reject(format!("resource type {:?} was not subscribed to", resp.type_url)));
        }
        let mut upserts = Vec::with_capacity(resp.resources.len());
        for resource in &resp.resources {
            let Some(any) = &resource.resource else {
                return Err(reject(format!("resource {:?} has no body", resource.name)));
            };
            match kds::decode(kind, any) {
                Ok(decoded) => upserts.push(decoded),
                Err(err) => {
                    return Err(reject(format!("resource {:?}: {}", resource.name, err.detail())));
                }
            }
        }
        let full_state = self.awaiting_full_state.remove(&kind);
        Ok(Received {
            kind,
            upserts,
            removed: resp.removed_resources,
            full_state,
            nonce: resp.nonce,
        })
    }

    /// Acknowledges the response `nonce` of `kind`.
    pub fn ack(&self, kind: ResourceType, nonce: &str) -> DeltaDiscoveryRequest {
        DeltaDiscoveryRequest {
            node: Some(self.node.clone()),
            type_url: kds::Type::from(kind).type_url().to_owned(),
            response_nonce: nonce.to_owned(),
            ..DeltaDiscoveryRequest::default()
        }
    }

    /// Refuses a response: Kuma's NACK also re-subscribes to everything of the type, unless this
    /// side never subscribed to it.
    pub fn nack(&self, rejected: &Rejected) -> DeltaDiscoveryRequest {
        let kind = kds::Type::from_type_url(&rejected.type_url).and_then(kds::Type::resource_type);
        let resubscribe = kind.is_some_and(|kind| self.subscribed.contains(&kind));
        DeltaDiscoveryRequest {
            node: Some(self.node.clone()),
            type_url: rejected.type_url.clone(),
            response_nonce: rejected.nonce.clone(),
            resource_names_subscribe: if resubscribe { vec!["*".to_owned()] } else { Vec::new() },
            error_detail: Some(RpcStatus {
                code: INVALID_ARGUMENT,
                message: rejected.message.clone(),
                details: Vec::new(),
            }),
            ..DeltaDiscoveryRequest::default()
        }
    }
}

/// The Node a zone (or the global, on `ZoneToGlobalSync`) sends: id = zone name.
pub fn node(zone: &str) -> Node {
    Node { id: zone.to_owned(), ..Node::default() }
}

#[cfg(test)]
mod tests;
