//! `Zone` spec ↔ `kuma.system.v1alpha1.Zone` (`BoolValue enabled`; unset means enabled).

use proto::kuma::system::v1alpha1 as pb;

use crate::resources::ZoneSpec;

impl From<&ZoneSpec> for pb::Zone {
    fn from(spec: &ZoneSpec) -> Self {
        Self { enabled: Some(spec.enabled) }
    }
}

impl From<pb::Zone> for ZoneSpec {
    fn from(zone: pb::Zone) -> Self {
        Self { enabled: zone.enabled.unwrap_or(true) }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn zone_round_trips_and_unset_means_enabled() {
        for enabled in [true, false] {
            let spec = ZoneSpec { enabled };
            let bytes = pb::Zone::from(&spec).encode_to_vec();
            let back = ZoneSpec::from(pb::Zone::decode(bytes.as_slice()).unwrap());
            assert_eq!(back, spec);
        }
        assert!(ZoneSpec::from(pb::Zone::default()).enabled);
    }
}
