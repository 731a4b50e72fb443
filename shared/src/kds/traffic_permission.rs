//! `TrafficPermission` spec ↔ `kuma.mesh.v1alpha1.TrafficPermission` (source and destination
//! selectors).

use kuma_core::resources::{Selector, TrafficPermissionSpec};
use proto::kuma::mesh::v1alpha1 as pb;

/// The spec as its wire message.
pub(super) fn to_pb(spec: &TrafficPermissionSpec) -> pb::TrafficPermission {
    let selectors = |list: &[Selector]| {
        let selector = |s: &Selector| pb::Selector { r#match: s.tags.clone() };
        list.iter().map(selector).collect()
    };
    pb::TrafficPermission {
        sources: selectors(&spec.sources),
        destinations: selectors(&spec.destinations),
    }
}

/// The spec a wire message carries.
pub(super) fn from_pb(tp: pb::TrafficPermission) -> TrafficPermissionSpec {
    let selectors = |list: Vec<pb::Selector>| {
        let selector = |s: pb::Selector| Selector { tags: s.r#match };
        list.into_iter().map(selector).collect()
    };
    TrafficPermissionSpec {
        sources: selectors(tp.sources),
        destinations: selectors(tp.destinations),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message;

    use super::*;

    #[test]
    fn traffic_permission_round_trips() {
        let selector = |pairs: &[(&str, &str)]| Selector {
            tags: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        };
        let spec = TrafficPermissionSpec {
            sources: vec![selector(&[("kuma.io/service", "*")])],
            destinations: vec![
                selector(&[("kuma.io/service", "backend"), ("version", "2")]),
                selector(&[("kuma.io/service", "db")]),
            ],
        };
        let bytes = to_pb(&spec).encode_to_vec();
        let decoded = pb::TrafficPermission::decode(bytes.as_slice()).unwrap();
        assert_eq!(from_pb(decoded), spec);
    }
}
