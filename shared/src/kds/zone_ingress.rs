//! `ZoneIngress` spec ↔ `kuma.mesh.v1alpha1.ZoneIngress`. Every field has a place in Kuma's
//! message; an empty advertised address and a zero advertised port read back as unset.

use kuma_core::resources::{Admin, AvailableService, IngressNetworking, ZoneIngressSpec};
use proto::kuma::mesh::v1alpha1 as pb;
use proto::kuma::mesh::v1alpha1::zone_ingress::{AvailableService as PbService, Networking};

use super::dataplane::non_empty;

/// The spec as its wire message.
pub(super) fn to_pb(spec: &ZoneIngressSpec) -> pb::ZoneIngress {
    pb::ZoneIngress {
        zone: spec.zone.clone(),
        networking: spec.networking.as_ref().map(|n| Networking {
            address: n.address.clone(),
            advertised_address: n.advertised_address.clone().unwrap_or_default(),
            port: n.port,
            advertised_port: n.advertised_port.unwrap_or_default(),
            admin: n.admin.as_ref().map(|a| pb::EnvoyAdmin { port: a.port }),
        }),
        available_services: spec
            .available_services
            .iter()
            .map(|s| PbService {
                tags: s.tags.clone().into_iter().collect(),
                instances: s.instances,
                mesh: s.mesh.clone(),
                external_service: s.external_service,
            })
            .collect(),
    }
}

/// The spec a wire message carries.
pub(super) fn from_pb(ingress: pb::ZoneIngress) -> ZoneIngressSpec {
    ZoneIngressSpec {
        zone: ingress.zone,
        networking: ingress.networking.map(|n| IngressNetworking {
            address: n.address,
            advertised_address: non_empty(n.advertised_address),
            port: n.port,
            advertised_port: (n.advertised_port != 0).then_some(n.advertised_port),
            admin: n.admin.map(|a| Admin { port: a.port }),
        }),
        available_services: ingress
            .available_services
            .into_iter()
            .map(|s| AvailableService {
                tags: s.tags.into_iter().collect(),
                instances: s.instances,
                mesh: s.mesh,
                external_service: s.external_service,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message;

    use super::*;

    #[test]
    fn a_zone_ingress_round_trips_through_kumas_message() {
        let spec = ZoneIngressSpec {
            zone: "east".into(),
            networking: Some(IngressNetworking {
                address: "10.0.0.5".into(),
                advertised_address: Some("203.0.113.7".into()),
                port: 10001,
                advertised_port: Some(443),
                admin: Some(Admin { port: 9901 }),
            }),
            available_services: vec![AvailableService {
                tags: BTreeMap::from([("kuma.io/service".into(), "web".into())]),
                instances: 2,
                mesh: "default".into(),
                external_service: true,
            }],
        };
        let bytes = to_pb(&spec).encode_to_vec();
        let back = from_pb(pb::ZoneIngress::decode(bytes.as_slice()).unwrap());
        assert_eq!(back, spec);
    }
}
