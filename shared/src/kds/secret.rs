//! `Secret` / `GlobalSecret` spec ↔ `kuma.system.v1alpha1.Secret` (`BytesValue data`).
//!
//! Our spec keeps the bytes base64-encoded, as the REST form does; the wire carries them raw.

use kuma_core::resources::SecretSpec;
use proto::kuma::system::v1alpha1 as pb;

/// The spec as its wire message. Data that is not base64 (never the case for a validated spec)
/// goes out empty, which the receiver rejects.
pub(super) fn to_pb(spec: &SecretSpec) -> pb::Secret {
    pb::Secret { data: Some(spec.bytes().unwrap_or_default()) }
}

/// The spec a wire message carries.
pub(super) fn from_pb(secret: pb::Secret) -> SecretSpec {
    SecretSpec::from_bytes(&secret.data.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn secret_round_trips_through_bytes() {
        let spec = SecretSpec::from_bytes(b"\x00\xffkey material");
        let bytes = to_pb(&spec).encode_to_vec();
        let back = from_pb(pb::Secret::decode(bytes.as_slice()).unwrap());
        assert_eq!(back, spec);
    }

    #[test]
    fn url_safe_data_goes_out_as_raw_bytes() {
        let spec = SecretSpec { data: "aGk_Pw".into() };
        assert_eq!(to_pb(&spec).data.as_deref(), Some(&b"hi??"[..]));
    }
}
