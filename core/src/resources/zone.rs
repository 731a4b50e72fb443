//! The `Zone` spec: whether a zone may connect to the global control plane, and from where.
//!
//! Zone liveness and insights live elsewhere; this is only what a user writes. It decides what a
//! valid spec is, never who is refused (the global's KDS authentication does that).

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// Why a name is not a valid zone name (Kuma's rules and texts). A zone control plane's
/// `KUMA_MULTIZONE_ZONE_NAME`, the `client-id` a zone sends over KDS and the `zone` of a zone
/// token request all follow them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneNameProblem {
    /// Empty name.
    #[error("Name is mandatory")]
    Empty,
    /// Not a DNS name.
    #[error("Zone name {0} has to be a valid DNS name")]
    NotDns(String),
    /// Over 63 characters.
    #[error("Zone name cannot be longer than 63 characters")]
    TooLong,
}

/// `Zone` spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ZoneSpec {
    /// A disabled zone is refused by the global; zones are enabled unless told otherwise.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// `allowedCidrs` (our extension, not in Kuma): the networks this zone's control plane may
    /// connect to the global's KDS from. Empty means anywhere the KDS listener's own allowlist
    /// admits. A bare address means that single host. Never sent over KDS: Kuma's `Zone` message
    /// has only `enabled`, and a zone has no use for it.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_cidrs",
        deserialize_with = "deserialize_cidrs"
    )]
    pub allowed_cidrs: Vec<IpNet>,
}

impl Default for ZoneSpec {
    fn default() -> Self {
        Self { enabled: true, allowed_cidrs: Vec::new() }
    }
}

/// Checks a zone name against Kuma's rules.
pub fn check_zone_name(name: &str) -> Result<(), ZoneNameProblem> {
    if name.is_empty() {
        return Err(ZoneNameProblem::Empty);
    }
    if !is_dns_name(name) {
        return Err(ZoneNameProblem::NotDns(name.to_owned()));
    }
    if name.len() > 63 {
        return Err(ZoneNameProblem::TooLong);
    }
    Ok(())
}

/// govalidator's `IsDNSName`, which Kuma uses: labels of `[A-Za-z0-9_][A-Za-z0-9_-]{0,62}`,
/// an optional trailing dot, and not an IP address.
fn is_dns_name(name: &str) -> bool {
    if name.replace('.', "").len() > 255 || name.parse::<IpAddr>().is_ok() {
        return false;
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    trimmed.split('.').all(|label| {
        let mut chars = label.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        first_ok
            && label.len() <= 63
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

fn enabled_by_default() -> bool {
    true
}

/// What a CIDR entry must look like, for error messages.
const CIDR_EXPECTED: &str = "an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/8, or an address";

/// Reads the list element by element so that a bad entry is reported at `allowedCidrs[i]`
/// (the path tracker sees every element).
fn deserialize_cidrs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    struct Cidr(IpNet);

    impl<'de> Deserialize<'de> for Cidr {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_str(CidrVisitor).map(Cidr)
        }
    }

    struct CidrVisitor;

    impl Visitor<'_> for CidrVisitor {
        type Value = IpNet;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(CIDR_EXPECTED)
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<IpNet, E> {
            value
                .parse::<IpNet>()
                .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| E::custom(format!("invalid CIDR {value:?}: expected {CIDR_EXPECTED}")))
        }
    }

    struct ListVisitor;

    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Vec<IpNet>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of CIDRs")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<IpNet>, A::Error> {
            let mut nets = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(Cidr(net)) = seq.next_element()? {
                nets.push(net);
            }
            Ok(nets)
        }

        /// `allowedCidrs: null` reads as no restriction, like an omitted field.
        fn visit_unit<E: de::Error>(self) -> Result<Vec<IpNet>, E> {
            Ok(Vec::new())
        }
    }

    deserializer.deserialize_any(ListVisitor)
}

fn serialize_cidrs<S: Serializer>(nets: &[IpNet], serializer: S) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(nets.len()))?;
    for net in nets {
        seq.serialize_element(&net.to_string())?;
    }
    seq.end()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::{ResourceType, Spec};

    fn parse(value: serde_json::Value) -> Result<ZoneSpec, String> {
        match Spec::from_value(ResourceType::Zone, value) {
            Ok(Spec::Zone(spec)) => Ok(spec),
            Ok(other) => panic!("not a zone spec: {other:?}"),
            Err(err) => Err(err.to_string()),
        }
    }

    #[test]
    fn cidrs_are_optional_and_omitted_when_empty() {
        let spec = parse(json!({"enabled": false})).unwrap();
        assert_eq!(spec, ZoneSpec { enabled: false, allowed_cidrs: Vec::new() });
        assert_eq!(Spec::Zone(spec).to_value(), json!({"enabled": false}));
        assert_eq!(parse(json!({"allowedCidrs": null})).unwrap(), ZoneSpec::default());
        assert_eq!(parse(json!({"allowedCidrs": []})).unwrap(), ZoneSpec::default());
    }

    #[test]
    fn cidrs_round_trip_and_a_bare_address_is_one_host() {
        let spec = parse(json!({"allowedCidrs": ["10.0.0.0/8", "fd00::/8", "192.0.2.7"]})).unwrap();
        let want: Vec<IpNet> =
            ["10.0.0.0/8", "fd00::/8", "192.0.2.7/32"].iter().map(|n| n.parse().unwrap()).collect();
        assert_eq!(spec.allowed_cidrs, want);
        assert_eq!(
            Spec::Zone(spec).to_value(),
            json!({"enabled": true, "allowedCidrs": ["10.0.0.0/8", "fd00::/8", "192.0.2.7/32"]})
        );
    }

    #[test]
    fn a_bad_cidr_is_reported_at_its_index() {
        let err = parse(json!({"allowedCidrs": ["10.0.0.0/8", "10.0.0.0/33"]})).unwrap_err();
        assert_eq!(
            err,
            format!("allowedCidrs[1]: invalid CIDR \"10.0.0.0/33\": expected {CIDR_EXPECTED}")
        );
        let err = parse(json!({"allowedCidrs": ["nope"]})).unwrap_err();
        assert!(err.starts_with("allowedCidrs[0]: invalid CIDR \"nope\""), "{err}");
        let err = parse(json!({"allowedCidrs": ["::1", 5]})).unwrap_err();
        assert_eq!(
            err,
            format!("allowedCidrs[1]: invalid type: integer `5`, expected {CIDR_EXPECTED}")
        );
        let err = parse(json!({"allowedCidrs": "10.0.0.0/8"})).unwrap_err();
        assert!(err.starts_with("allowedCidrs: invalid type: string"), "{err}");
    }
}
