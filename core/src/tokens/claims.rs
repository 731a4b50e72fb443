//! The claims inside dataplane, zone and user tokens, named as Kuma names them, and the
//! registered claims (`exp`, `nbf`, `iat`, `jti`) every token carries.
//!
//! Kuma's claim structs have no json tags, so the JSON names are the Go field names (`Name`,
//! `Mesh`, `Tags`...). Go decodes JSON case-insensitively, so tokens from external issuers may use
//! lowercase names; we accept those as aliases. This module only shapes data; it checks nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// What a dataplane token allows (`pkg/tokens/builtin/issuer/token.go`). Every field is optional:
/// an empty one does not restrict the dataplane.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataplaneClaims {
    /// The dataplane's name.
    #[serde(rename = "Name", alias = "name", default, deserialize_with = "or_default")]
    pub name: String,
    /// The dataplane's mesh.
    #[serde(rename = "Mesh", alias = "mesh", default, deserialize_with = "or_default")]
    pub mesh: String,
    /// Tags the dataplane must have, each with the values it may have. `{}` when empty.
    #[serde(rename = "Tags", alias = "tags", default, deserialize_with = "or_default")]
    pub tags: BTreeMap<String, Vec<String>>,
    /// The proxy type (`""`, `dataplane`, `ingress`, `egress`). Kuma never checks it.
    #[serde(rename = "Type", alias = "type", default, deserialize_with = "or_default")]
    pub proxy_type: String,
    /// The `kuma.io/workload` label the dataplane must carry (Kuma 2.13+).
    #[serde(rename = "Workload", alias = "workload", default, deserialize_with = "or_default")]
    pub workload: String,
}

/// What a zone token allows (`pkg/tokens/builtin/zone/token.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneClaims {
    /// The zone the token was issued for; empty means any zone.
    #[serde(rename = "Zone", alias = "zone", default, deserialize_with = "or_default")]
    pub zone: String,
    /// What the token may authenticate: `ingress`, `egress`, and `cp` for zone control planes.
    #[serde(rename = "Scope", alias = "scope", default, deserialize_with = "or_default")]
    pub scope: Vec<String>,
}

/// Who an API user token speaks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    /// The user name, e.g. `mesh-system:admin`.
    #[serde(rename = "Name", alias = "name", default, deserialize_with = "or_default")]
    pub name: String,
    /// The user's groups.
    #[serde(rename = "Groups", alias = "groups", default, deserialize_with = "or_default")]
    pub groups: Vec<String>,
}

/// The token as signed: the caller's claims followed by the registered claims, in the order
/// golang-jwt writes them.
#[derive(Serialize)]
pub(super) struct Payload<'a, C> {
    #[serde(flatten)]
    pub claims: &'a C,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: &'a str,
}

/// The registered claims read back from a token. All are optional, as in golang-jwt: a token
/// without `exp` never expires (only a holder of the signing key can make one). Go's
/// `NumericDate` takes fractional seconds, so these are read as floats.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Registered {
    #[serde(default)]
    pub exp: Option<f64>,
    #[serde(default)]
    pub nbf: Option<f64>,
    #[serde(default)]
    pub iat: Option<f64>,
    #[serde(default)]
    pub jti: Option<String>,
}

/// Go decodes `null` into a nil map or slice, which reads as empty; serde would reject it.
fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataplane_claims_serialize_with_kuma_names_and_empty_tags() {
        let claims = DataplaneClaims {
            name: "backend-1".into(),
            mesh: "default".into(),
            ..Default::default()
        };
        let json = serde_json::to_string(&claims).unwrap();
        assert_eq!(
            json,
            r#"{"Name":"backend-1","Mesh":"default","Tags":{},"Type":"","Workload":""}"#
        );
    }

    #[test]
    fn claims_accept_lowercase_names_and_null_collections() {
        let claims: DataplaneClaims =
            serde_json::from_str(r#"{"name":"a","mesh":"m","tags":null,"type":"ingress"}"#)
                .unwrap();
        assert_eq!(claims.name, "a");
        assert_eq!(claims.mesh, "m");
        assert!(claims.tags.is_empty());
        assert_eq!(claims.proxy_type, "ingress");

        let zone: ZoneClaims = serde_json::from_str(r#"{"zone":"z1","scope":["cp"]}"#).unwrap();
        assert_eq!(zone.scope, ["cp"]);
        let user: UserClaims = serde_json::from_str(r#"{"Name":"u","groups":["g"]}"#).unwrap();
        assert_eq!(user.groups, ["g"]);
    }

    #[test]
    fn kuma_token_payload_reads_back() {
        // The payload of a real Kuma dataplane token from its test data.
        let payload = r#"{"Name":"backend-1","Mesh":"default","Tags":{},"Type":"",
            "exp":1700000000,"nbf":1600000000,"iat":1600000000.5,"jti":"id"}"#;
        let claims: DataplaneClaims = serde_json::from_str(payload).unwrap();
        assert_eq!(claims.name, "backend-1");
        let registered: Registered = serde_json::from_str(payload).unwrap();
        assert_eq!(registered.exp, Some(1_700_000_000.0));
        assert_eq!(registered.iat, Some(1_600_000_000.5));
        assert_eq!(registered.jti.as_deref(), Some("id"));
    }
}
