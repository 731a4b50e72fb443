//! `Zone` spec ↔ `kuma.system.v1alpha1.Zone` (`BoolValue enabled`; unset means enabled).
//!
//! Only `enabled` crosses the wire: `allowedCidrs` is our extension, meant for the global alone.

use proto::kuma::system::v1alpha1 as pb;

use crate::resources::ZoneSpec;

impl From<&ZoneSpec> for pb::Zone {
    fn from(spec: &ZoneSpec) -> Self {
        Self { enabled: Some(spec.enabled) }
    }
}

impl From<pb::Zone> for ZoneSpec {
    fn from(zone: pb::Zone) -> Self {
        Self { enabled: zone.enabled.unwrap_or(true), allowed_cidrs: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::resources::Spec;

    #[test]
    fn zone_round_trips_and_unset_means_enabled() {
        for enabled in [true, false] {
            let spec = ZoneSpec { enabled, ..ZoneSpec::default() };
            let bytes = pb::Zone::from(&spec).encode_to_vec();
            let back = ZoneSpec::from(pb::Zone::decode(bytes.as_slice()).unwrap());
            assert_eq!(back, spec);
        }
        assert!(ZoneSpec::from(pb::Zone::default()).enabled);
    }

    #[test]
    fn allowed_cidrs_stay_off_the_wire() {
        let spec = ZoneSpec { enabled: false, allowed_cidrs: vec!["10.0.0.0/8".parse().unwrap()] };
        // An exhaustive literal: a field added to the proto makes this test fail to compile.
        assert_eq!(pb::Zone::from(&spec), pb::Zone { enabled: Some(false) });
        let plain = ZoneSpec { enabled: false, ..ZoneSpec::default() };
        let any = |s: &ZoneSpec| crate::kds::resource::spec_to_any(&Spec::Zone(s.clone()));
        assert_eq!(any(&spec), any(&plain));
        let back = ZoneSpec::from(pb::Zone::decode(any(&spec).value.as_slice()).unwrap());
        assert_eq!(back, plain);
    }
}
