//! `Secret` / `GlobalSecret` spec ↔ `kuma.system.v1alpha1.Secret` (`BytesValue data`).
//!
//! Our spec keeps the bytes base64-encoded, as the REST form does; the wire carries them raw.

use proto::kuma::system::v1alpha1 as pb;

use crate::resources::SecretSpec;

impl From<&SecretSpec> for pb::Secret {
    /// Data that is not base64 (never the case for a validated spec) goes out empty, which the
    /// receiver rejects.
    fn from(spec: &SecretSpec) -> Self {
        Self { data: Some(spec.bytes().unwrap_or_default()) }
    }
}

impl From<pb::Secret> for SecretSpec {
    fn from(secret: pb::Secret) -> Self {
        Self::from_bytes(&secret.data.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn secret_round_trips_through_bytes() {
        let spec = SecretSpec::from_bytes(b"\x00\xffkey material");
        let bytes = pb::Secret::from(&spec).encode_to_vec();
        let back = SecretSpec::from(pb::Secret::decode(bytes.as_slice()).unwrap());
        assert_eq!(back, spec);
    }

    #[test]
    fn url_safe_data_goes_out_as_raw_bytes() {
        let spec = SecretSpec { data: "aGk_Pw".into() };
        assert_eq!(pb::Secret::from(&spec).data.as_deref(), Some(&b"hi??"[..]));
    }
}
