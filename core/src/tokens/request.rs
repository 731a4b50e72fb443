//! The JSON bodies of `POST /tokens/dataplane`, `/tokens/zone` and `/tokens/user`, with Kuma's
//! validation messages, and their translation into claims and a validity period.
//!
//! Access checks and the issuing itself belong to the API; this module only reads the request.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{DataplaneClaims, UserClaims, ZoneClaims, parse_go_duration};
use crate::resources::{ValidationError, check_mesh_ref, check_name, check_zone_name};

/// Validity of a dataplane or zone token whose request leaves `validFor` empty: 10 years, as
/// Kuma does for backwards compatibility (kumahq/kuma#4001). There is no maximum.
pub const DEFAULT_VALID_FOR: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

const PROXY_TYPES: [&str; 3] = ["dataplane", "ingress", "egress"];
/// The scopes a zone token may carry: Kuma's `ingress` and `egress`, and our `cp` (a zone control
/// plane authenticating to the global).
pub const ZONE_SCOPES: [&str; 3] = ["ingress", "egress", "cp"];
/// Longest user name or group: a user token names people and teams, not resources, so only a
/// generous cap applies (that of a resource name).
const MAX_USER_NAME: usize = 253;
/// Longest workload: it is matched against the `kuma.io/workload` label, a label value.
const MAX_WORKLOAD: usize = 63;

/// `POST /tokens/dataplane`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataplaneTokenRequest {
    /// The dataplane name to bind, or empty.
    pub name: String,
    /// The mesh; required.
    pub mesh: String,
    /// Tags to bind, each with its allowed values.
    pub tags: BTreeMap<String, Vec<String>>,
    /// `dataplane`, `ingress`, `egress`, or empty.
    #[serde(rename = "type")]
    pub proxy_type: String,
    /// The `kuma.io/workload` label to bind, or empty.
    pub workload: String,
    /// A Go duration (`24h0m0s`); empty means [`DEFAULT_VALID_FOR`].
    pub valid_for: String,
}

/// `POST /tokens/zone`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ZoneTokenRequest {
    /// The zone; required.
    pub zone: String,
    /// `ingress`, `egress`, `cp`; at least one.
    pub scope: Vec<String>,
    /// A Go duration; empty means [`DEFAULT_VALID_FOR`].
    pub valid_for: String,
}

/// `POST /tokens/user`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserTokenRequest {
    /// The user name; required.
    pub name: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// A Go duration; required.
    pub valid_for: String,
}

impl DataplaneTokenRequest {
    /// Checks the request and returns the claims to sign and for how long.
    pub fn validate(&self) -> Result<(DataplaneClaims, Duration), ValidationError> {
        let mut err = ValidationError::default();
        if !self.name.is_empty() {
            // It must be able to match a Dataplane, so it follows the resource name rules.
            let mut name = ValidationError::default();
            check_name(&self.name, false, &mut name);
            err.extend(name);
        }
        if self.mesh.is_empty() {
            err.push("mesh", "cannot be empty");
        } else {
            check_mesh_ref(&self.mesh, &mut err);
            if self.mesh.len() > 63 {
                err.push("mesh", "cannot be longer than 63 characters");
            }
        }
        let valid_for = optional_valid_for(&self.valid_for, &mut err);
        if !self.proxy_type.is_empty() && !PROXY_TYPES.contains(&self.proxy_type.as_str()) {
            err.push("type", format!("{} is not a valid proxy type", self.proxy_type));
        }
        if self.workload.len() > MAX_WORKLOAD {
            err.push("workload", format!("cannot be longer than {MAX_WORKLOAD} characters"));
        }
        err.into_result()?;
        let claims = DataplaneClaims {
            name: self.name.clone(),
            mesh: self.mesh.clone(),
            tags: self.tags.clone(),
            proxy_type: self.proxy_type.clone(),
            workload: self.workload.clone(),
        };
        Ok((claims, valid_for))
    }
}

impl ZoneTokenRequest {
    /// Checks the request and returns the claims to sign and for how long.
    pub fn validate(&self) -> Result<(ZoneClaims, Duration), ValidationError> {
        let mut err = ValidationError::default();
        if self.zone.is_empty() {
            err.push("zone", "cannot be empty");
        } else if let Err(problem) = check_zone_name(&self.zone) {
            // The same rule the global applies to a zone's client-id: a token for a name that
            // cannot connect is useless.
            err.push("zone", problem.to_string());
        }
        if self.scope.is_empty() {
            err.push("scope", "cannot be empty");
        }
        for (i, scope) in self.scope.iter().enumerate() {
            if !ZONE_SCOPES.contains(&scope.as_str()) {
                err.push(
                    format!("scope[{i}]"),
                    format!(
                        "unknown scope {scope:?}: supported scopes are {}",
                        ZONE_SCOPES.join(", ")
                    ),
                );
            }
        }
        let valid_for = optional_valid_for(&self.valid_for, &mut err);
        err.into_result()?;
        let claims = ZoneClaims { zone: self.zone.clone(), scope: self.scope.clone() };
        Ok((claims, valid_for))
    }
}

impl UserTokenRequest {
    /// Checks the request and returns the claims to sign and for how long.
    pub fn validate(&self) -> Result<(UserClaims, Duration), ValidationError> {
        let mut err = ValidationError::default();
        if self.name.is_empty() {
            err.push("name", "cannot be empty");
        } else if self.name.len() > MAX_USER_NAME {
            err.push("name", format!("cannot be longer than {MAX_USER_NAME} characters"));
        }
        for (i, group) in self.groups.iter().enumerate() {
            if group.is_empty() {
                err.push(format!("groups[{i}]"), "cannot be empty");
            } else if group.len() > MAX_USER_NAME {
                err.push(
                    format!("groups[{i}]"),
                    format!("cannot be longer than {MAX_USER_NAME} characters"),
                );
            }
        }
        let valid_for = if self.valid_for.is_empty() {
            err.push("validFor", "cannot be empty");
            Duration::ZERO
        } else {
            parsed_valid_for(&self.valid_for, &mut err)
        };
        err.into_result()?;
        let claims = UserClaims { name: self.name.clone(), groups: self.groups.clone() };
        Ok((claims, valid_for))
    }
}

fn optional_valid_for(valid_for: &str, err: &mut ValidationError) -> Duration {
    if valid_for.is_empty() { DEFAULT_VALID_FOR } else { parsed_valid_for(valid_for, err) }
}

/// A Go duration that is more than zero: a token valid for no time at all expires as it is
/// issued, which is never what the caller wanted.
fn parsed_valid_for(valid_for: &str, err: &mut ValidationError) -> Duration {
    match parse_go_duration(valid_for) {
        Ok(Duration::ZERO) => {
            err.push("validFor", "must be greater than 0");
            Duration::ZERO
        }
        Ok(duration) => duration,
        Err(e) => {
            err.push("validFor", format!("is invalid: {e}"));
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests;
