//! The delta xDS exchange KDS runs in both directions: the [`Publisher`] half (answers
//! subscriptions and pushes changes) and the [`Subscriber`] half (subscribes, decodes, ACKs or
//! NACKs). The global publishes on `GlobalToZoneSync` and subscribes on `ZoneToGlobalSync`; a zone
//! does the opposite. Kuma's wire rules: type URLs are Kuma type names
//! ([`ResourceType::name`]), resources are `KumaResource`s named `<name>.<mesh>` with
//! content-hash versions, a subscription is answered at once (even when empty), and the first
//! answer of a stream is the peer's full state.
//!
//! The publisher itself is generic over the resources it carries (a name, a version, a payload),
//! so that an xDS server to Envoy tracks what each proxy holds the same way. This module only
//! builds and reads messages; streams, stores and authentication are the caller's.

use std::collections::HashSet;

use kuma_core::resources::{Resource, ResourceType};
use proto::envoy::config::core::v3::Node;
use proto::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DeltaDiscoveryResponse};
use proto::google::rpc::Status as RpcStatus;

use crate::kds;

mod publisher;

pub use publisher::{Item, Publisher, Update, Versioned};

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
    let Some(kind) = ResourceType::from_name(&req.type_url) else {
        return Request::Unknown { type_url: req.type_url.clone() };
    };
    match &req.error_detail {
        Some(status) => Request::Nack { kind, message: status.message.clone() },
        None if req.response_nonce.is_empty() => Request::Subscribe(kind),
        None => Request::Ack(kind),
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
            type_url: kind.name().to_owned(),
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
        let Some(kind) = ResourceType::from_name(&resp.type_url) else {
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
            type_url: kind.name().to_owned(),
            response_nonce: nonce.to_owned(),
            ..DeltaDiscoveryRequest::default()
        }
    }

    /// Refuses a response: Kuma's NACK also re-subscribes to everything of the type, unless this
    /// side never subscribed to it.
    pub fn nack(&self, rejected: &Rejected) -> DeltaDiscoveryRequest {
        let kind = ResourceType::from_name(&rejected.type_url);
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
