//! `Zone` spec ↔ `kuma.system.v1alpha1.Zone` (`BoolValue enabled`; unset means enabled).
//!
//! Only `enabled` crosses the wire: `allowedCidrs` is our extension, meant for the global alone.

use kuma_core::resources::ZoneSpec;
use proto::kuma::system::v1alpha1 as pb;

/// The spec as its wire message.
pub(super) fn to_pb(spec: &ZoneSpec) -> pb::Zone {
    pb::Zone { enabled: Some(spec.enabled) }
}

/// The spec a wire message carries.
pub(super) fn from_pb(zone: pb::Zone) -> ZoneSpec {
    ZoneSpec { enabled: zone.enabled.unwrap_or(true), allowed_cidrs: Vec::new() }
}

#[cfg(test)]
mod tests {
    use kuma_core::resources::Spec;
    use prost::Message;

    use super::*;

    #[test]
    fn zone_round_trips_and_unset_means_enabled() {
        for enabled in [true, false] {
            let spec = ZoneSpec { enabled, ..ZoneSpec::default() };
            let bytes = to_pb(&spec).encode_to_vec();
            let back = from_pb(pb::Zone::decode(bytes.as_slice()).unwrap());
            assert_eq!(back, spec);
        }
        assert!(from_pb(pb::Zone::default()).enabled);
    }

    #[test]
    fn allowed_cidrs_stay_off_the_wire() {
        let spec = ZoneSpec { enabled: false, allowed_cidrs: vec!["10.0.0.0/8".parse().unwrap()] };
        // An exhaustive literal: a field added to the proto makes this test fail to compile.
        assert_eq!(to_pb(&spec), pb::Zone { enabled: Some(false) });
        let plain = ZoneSpec { enabled: false, ..ZoneSpec::default() };
        let any = |s: &ZoneSpec| crate::kds::resource::spec_to_any(&Spec::Zone(s.clone()));
        assert_eq!(any(&spec), any(&plain));
        let back = from_pb(pb::Zone::decode(any(&spec).value.as_slice()).unwrap());
        assert_eq!(back, plain);
    }
}
