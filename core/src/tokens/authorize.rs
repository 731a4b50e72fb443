//! Decides whether a validated token may authenticate a given dataplane, zone proxy or zone
//! control plane, with Kuma's messages (`pkg/xds/auth/universal/authenticator.go`).
//!
//! These are pure functions over claims and a description of the requestor; finding the
//! Dataplane resource or the zone's name is the caller's job. Every claim is optional, as in
//! Kuma: an empty one does not restrict. The dataplane `Type` claim is ignored, as Kuma ignores it.

use std::collections::{BTreeMap, BTreeSet};

use super::{DataplaneClaims, ZoneClaims};

/// The scope a zone control plane's token must carry (our KDS extension; Kong Mesh has the same).
const CP_SCOPE: &str = "cp";

/// What the server knows about the dataplane asking to be authenticated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataplaneIdentity {
    /// The Dataplane's name.
    pub name: String,
    /// The Dataplane's mesh.
    pub mesh: String,
    /// Every tag on the Dataplane's inbounds, with all its values.
    pub tags: BTreeMap<String, BTreeSet<String>>,
    /// The Dataplane's `kuma.io/workload` label.
    pub workload: Option<String>,
    /// Whether a MeshIdentity derives this dataplane's identity from its workload label, which
    /// makes a workload-bound token mandatory.
    pub workload_derives_identity: bool,
}

/// Why a valid token may not authenticate this requestor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token names another dataplane.
    #[error("proxy name from requestor: {requestor} is different than in token: {token}")]
    Name {
        /// The dataplane's name.
        requestor: String,
        /// The token's `Name`.
        token: String,
    },
    /// The token names another mesh.
    #[error("proxy mesh from requestor: {requestor} is different than in token: {token}")]
    Mesh {
        /// The dataplane's mesh.
        requestor: String,
        /// The token's `Mesh`.
        token: String,
    },
    /// The dataplane lacks a tag the token requires.
    #[error("dataplane has no tag {tag:?} required by the token")]
    MissingTag {
        /// The tag.
        tag: String,
    },
    /// The dataplane has a tag value the token does not allow.
    #[error(
        "dataplane contains tag {tag:?} with value {value:?} which is not allowed with this \
         token. Allowed values in token are {}", go_quoted(.allowed)
    )]
    TagValue {
        /// The tag.
        tag: String,
        /// The dataplane's value.
        value: String,
        /// The values the token allows, sorted.
        allowed: Vec<String>,
    },
    /// The token is bound to a workload and the dataplane has no workload label.
    #[error("dataplane has no workload label required by the token")]
    MissingWorkload,
    /// The token is bound to another workload.
    #[error(
        "dataplane workload {requestor:?} is not allowed with this token. Allowed workload in \
         token is {token:?}"
    )]
    Workload {
        /// The dataplane's workload label.
        requestor: String,
        /// The token's `Workload`.
        token: String,
    },
    /// The dataplane's identity comes from its workload, and the token is not workload-bound.
    #[error(
        "dataplane with \"kuma.io/workload\" label {workload:?} derives its identity from the \
         workload, so it requires a workload-bound token"
    )]
    WorkloadTokenRequired {
        /// The dataplane's workload label.
        workload: String,
    },
    /// The zone token's scope lacks what is needed.
    #[error(
        "token cannot be used to authenticate zone entity ({needed} is out of token's scope: [{}])",
        .scope.join(" ")
    )]
    Scope {
        /// The scope needed: `ingress`, `egress` or `cp`.
        needed: String,
        /// The token's scope.
        scope: Vec<String>,
    },
    /// The zone token names another zone.
    #[error("zone from requestor: {requestor} is different than in token: {token}")]
    Zone {
        /// The zone the requestor is in (the CP's own zone for zone proxies, the client id for
        /// zone control planes).
        requestor: String,
        /// The token's `Zone`.
        token: String,
    },
    /// A zone control plane's token must name that zone.
    #[error("token for a zone control plane must name its zone; got a token for any zone")]
    ZoneUnbound,
}

/// Whether `claims` allow `dp`: name, mesh, every token tag present on the dataplane with every
/// one of its values allowed, and the workload rules.
pub fn authorize_dataplane(
    claims: &DataplaneClaims,
    dp: &DataplaneIdentity,
) -> Result<(), AuthError> {
    if !claims.name.is_empty() && claims.name != dp.name {
        return Err(AuthError::Name { requestor: dp.name.clone(), token: claims.name.clone() });
    }
    if !claims.mesh.is_empty() && claims.mesh != dp.mesh {
        return Err(AuthError::Mesh { requestor: dp.mesh.clone(), token: claims.mesh.clone() });
    }
    for (tag, allowed) in &claims.tags {
        let Some(values) = dp.tags.get(tag) else {
            return Err(AuthError::MissingTag { tag: tag.clone() });
        };
        if let Some(value) = values.iter().find(|v| !allowed.contains(v)) {
            let allowed: BTreeSet<&String> = allowed.iter().collect();
            return Err(AuthError::TagValue {
                tag: tag.clone(),
                value: value.clone(),
                allowed: allowed.into_iter().cloned().collect(),
            });
        }
    }
    match (claims.workload.as_str(), &dp.workload) {
        ("", Some(workload)) if dp.workload_derives_identity => {
            Err(AuthError::WorkloadTokenRequired { workload: workload.clone() })
        }
        ("", _) => Ok(()),
        (_, None) => Err(AuthError::MissingWorkload),
        (token, Some(workload)) if token != workload => {
            Err(AuthError::Workload { requestor: workload.clone(), token: token.to_owned() })
        }
        _ => Ok(()),
    }
}

/// Whether zone token `claims` allow a zone proxy: the scope must contain `scope_needed`
/// (`ingress` or `egress`) and a non-empty `Zone` must be the CP's own zone `cp_zone`.
pub fn authorize_zone_proxy(
    claims: &ZoneClaims,
    scope_needed: &str,
    cp_zone: &str,
) -> Result<(), AuthError> {
    require_scope(claims, scope_needed)?;
    if !claims.zone.is_empty() && claims.zone != cp_zone {
        return Err(AuthError::Zone { requestor: cp_zone.to_owned(), token: claims.zone.clone() });
    }
    Ok(())
}

/// Whether zone token `claims` allow a zone control plane that says it is `client_id` on KDS:
/// the scope must contain `cp` and `Zone` must be exactly `client_id` (an unbound token could
/// otherwise impersonate every zone).
pub fn authorize_zone_cp(claims: &ZoneClaims, client_id: &str) -> Result<(), AuthError> {
    require_scope(claims, CP_SCOPE)?;
    if claims.zone.is_empty() {
        return Err(AuthError::ZoneUnbound);
    }
    if claims.zone != client_id {
        return Err(AuthError::Zone {
            requestor: client_id.to_owned(),
            token: claims.zone.clone(),
        });
    }
    Ok(())
}

fn require_scope(claims: &ZoneClaims, needed: &str) -> Result<(), AuthError> {
    if claims.scope.iter().any(|s| s == needed) {
        return Ok(());
    }
    Err(AuthError::Scope { needed: needed.to_owned(), scope: claims.scope.clone() })
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn go_quoted(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests;
