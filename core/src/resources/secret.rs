//! The `Secret` and `GlobalSecret` spec: one base64 `data` field.
//!
//! This module checks that the data is present and decodes; what the bytes mean (a CA key, a
//! token signing key) is up to the code that reads them.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};

use super::validation::ValidationError;

/// `Secret` / `GlobalSecret` spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// The secret bytes, base64-encoded as protobuf's JSON mapping writes `bytes`.
    #[serde(default)]
    pub data: String,
}

// protojson reads `bytes` in the standard or the URL-safe alphabet, padded or not.
const PADDING_OPTIONAL: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, PADDING_OPTIONAL);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, PADDING_OPTIONAL);

impl SecretSpec {
    /// A spec holding `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self { data: base64::engine::general_purpose::STANDARD.encode(bytes) }
    }

    /// The decoded secret, or `None` if `data` is not base64.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        let engine = if self.data.contains(['-', '_']) { URL_SAFE } else { STANDARD };
        engine.decode(&self.data).ok()
    }

    /// The spec as Kuma stores it: data that decodes is rewritten in the standard, padded
    /// alphabet (protojson reads either alphabet into bytes and prints the standard one), so the
    /// text the API keeps is the text a zone rebuilds from the KDS bytes.
    pub(crate) fn canonical(self) -> Self {
        match self.bytes() {
            Some(bytes) if !bytes.is_empty() => Self::from_bytes(&bytes),
            _ => self,
        }
    }

    pub(crate) fn validate(&self) -> ValidationError {
        let mut err = ValidationError::default();
        match self.bytes() {
            _ if self.data.is_empty() => err.push("data", "cannot be empty"),
            None => err.push("data", "has to be a valid base64 string"),
            Some(bytes) if bytes.is_empty() => err.push("data", "cannot be empty"),
            Some(_) => {}
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_either_alphabet_with_or_without_padding() {
        for data in ["aGk/Pw==", "aGk/Pw", "aGk_Pw==", "aGk_Pw"] {
            let spec = SecretSpec { data: data.to_owned() };
            assert_eq!(spec.bytes().as_deref(), Some(&b"hi??"[..]), "{data}");
            assert!(spec.validate().is_empty());
        }
        assert_eq!(SecretSpec::from_bytes(b"hi??").data, "aGk/Pw==");
    }

    #[test]
    fn canonical_data_is_standard_padded_base64() {
        for data in ["aGk/Pw==", "aGk/Pw", "aGk_Pw==", "aGk_Pw"] {
            let spec = SecretSpec { data: data.to_owned() }.canonical();
            assert_eq!(spec.data, "aGk/Pw==", "{data}");
        }
        let broken = SecretSpec { data: "not base64!".to_owned() }.canonical();
        assert_eq!(broken.data, "not base64!");
    }

    #[test]
    fn empty_or_broken_data_is_rejected() {
        let check = |data: &str| SecretSpec { data: data.to_owned() }.validate().to_string();
        assert_eq!(check(""), "data: cannot be empty");
        assert_eq!(check("not base64!"), "data: has to be a valid base64 string");
        assert_eq!(check("a"), "data: has to be a valid base64 string");
    }
}
