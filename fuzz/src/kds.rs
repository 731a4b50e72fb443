//! The `kds` target: bytes as the protobuf messages a KDS peer sends. A `DeltaDiscoveryResponse`
//! goes through the subscribing half of each side (the zone on `GlobalToZoneSync`, the global on
//! `ZoneToGlobalSync`), and what it accepts is applied to an in-memory store as the servers do. A
//! `DeltaDiscoveryRequest` goes through the publishing half's classification.
//!
//! Properties: every resource accepted reads back unchanged from its universal JSON and KDS forms;
//! a side stores only the types it subscribed to; applying the same update twice changes nothing
//! the second time.

use std::collections::BTreeSet;

use kuma_core::resources::{self, ResourceType};
use prost::Message;
use proto::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DeltaDiscoveryResponse};
use shared::kds::delta::{self, Publisher, Received, Subscriber};
use shared::kds::sync::{self, Applied, GLOBAL_TO_ZONE, ZONE_TO_GLOBAL};
use store::Store;

use crate::runtime;

const ZONE: &str = "zone-1";

/// `data` as a request to classify and as a response for each side to receive and apply.
pub fn run(data: &[u8]) {
    if let Ok(request) = DeltaDiscoveryRequest::decode(data) {
        let _ = delta::classify(&request);
    }
    let Ok(response) = DeltaDiscoveryResponse::decode(data) else { return };
    for side in [Side::Zone, Side::Global] {
        let mut subscriber = Subscriber::new(delta::node(ZONE));
        for kind in side.subscribes() {
            subscriber.subscribe(*kind);
        }
        if let Ok(received) = subscriber.receive(response.clone()) {
            received.upserts.iter().for_each(crate::resources::check_round_trips);
            runtime().block_on(apply_twice(side, received));
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Side {
    /// A zone receiving from the global.
    Zone,
    /// The global receiving from a zone.
    Global,
}

impl Side {
    fn subscribes(self) -> &'static [ResourceType] {
        match self {
            Self::Zone => &GLOBAL_TO_ZONE,
            Self::Global => &ZONE_TO_GLOBAL,
        }
    }

    async fn apply(self, store: &Store, received: &Received, full_state: bool) -> Option<Applied> {
        let (kind, upserts, removed) = (received.kind, received.upserts.clone(), &received.removed);
        let result = match self {
            Self::Zone => sync::apply_from_global(store, kind, upserts, removed, full_state).await,
            Self::Global => {
                sync::apply_from_zone(store, ZONE, kind, upserts, removed, full_state).await
            }
        };
        result.ok()
    }
}

async fn apply_twice(side: Side, received: Received) {
    assert!(
        side.subscribes().contains(&received.kind),
        "{side:?} accepted {} resources it never subscribed to",
        received.kind.name()
    );
    let store = Store::memory();
    let Some(_) = side.apply(&store, &received, received.full_state).await else { return };
    for kind in ResourceType::ALL.into_iter().filter(|k| !side.subscribes().contains(k)) {
        let stored = store.list(kind.name(), None).await.expect("listing the memory store");
        assert!(stored.is_empty(), "{side:?} stored {} it never subscribed to", kind.name());
    }
    // Repeating an update is a no-op, unless the update itself names a resource twice or both
    // upserts and removes it (then the second pass legitimately writes again).
    let names: Vec<String> = received
        .upserts
        .iter()
        .map(|r| shared::kds::resource_name(&r.meta.name, r.meta.mesh.as_deref()))
        .collect();
    let unique: BTreeSet<&String> = names.iter().collect();
    let overlap = received.removed.iter().any(|r| unique.contains(r));
    if unique.len() == names.len() && !overlap {
        let again = side.apply(&store, &received, false).await.expect("second apply");
        assert_eq!(
            (again.upserted, again.deleted),
            (0, 0),
            "{side:?} re-applied an unchanged update"
        );
    }
}

/// Full-state responses of every type, as a publisher produces them from valid resources, and a
/// subscription, an ACK and a NACK.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut by_kind: Vec<(ResourceType, Vec<resources::Resource>)> =
        ResourceType::ALL.iter().map(|k| (*k, Vec::new())).collect();
    for doc in crate::resources::DOCUMENTS {
        for value in resources::decode_documents(doc).expect("seed documents parse") {
            let resource = resources::decode(value).expect("seed documents are valid");
            let slot = by_kind.iter_mut().find(|(k, _)| *k == resource.resource_type());
            slot.expect("every type has a slot").1.push(resource);
        }
    }
    let mut publisher = Publisher::default();
    let mut seeds: Vec<Vec<u8>> = by_kind
        .iter()
        .filter_map(|(kind, items)| publisher.update(*kind, items))
        .map(|response| response.encode_to_vec())
        .collect();
    // A later response that removes everything.
    for (kind, _) in &by_kind {
        if let Some(response) = publisher.update(*kind, &[]) {
            seeds.push(response.encode_to_vec());
        }
    }
    let mut subscriber = Subscriber::new(delta::node(ZONE));
    let subscribe = subscriber.subscribe(ResourceType::Mesh);
    seeds.push(subscribe.encode_to_vec());
    seeds.push(subscriber.ack(ResourceType::Mesh, "1").encode_to_vec());
    let rejected = delta::Rejected {
        type_url: subscribe.type_url.clone(),
        nonce: "2".into(),
        message: "bad".into(),
    };
    seeds.push(subscriber.nack(&rejected).encode_to_vec());
    seeds
}
