//! The MeshTrafficPermission spec (Kuma 2.14's permission policy) in its universal form: a
//! top-level `targetRef` choosing the proxies (inbounds) it applies to and `from` items, each a
//! `targetRef` choosing clients with the `default.action` for them.
//!
//! This module checks the shape with Kuma's messages (`pkg/plugins/policies/meshtrafficpermission`
//! and `pkg/core/resources/apis/mesh` `ValidateTargetRef`). What a targetRef selects and how the
//! items combine belongs to the xDS generator. The `rules` form of newer Kuma is refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validation::{Path, TagValues, ValidationError, check_tags};

/// The fields of a MeshTrafficPermission document beside its meta: the policy under `spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshTrafficPermissionSpec {
    /// The policy.
    #[serde(default)]
    pub spec: MeshTrafficPermission,
}

/// `spec` of a MeshTrafficPermission.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshTrafficPermission {
    /// The proxies it applies to; absent means every proxy of the mesh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Client groups and what they may do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<FromItem>,
    /// Kuma's newer `rules` form; refused by validation, kept to say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Value>,
}

/// A reference to what a policy (or one of its items) selects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetRef {
    /// `Mesh`, `MeshSubset`, `MeshService`, `MeshServiceSubset` or `Dataplane`.
    #[serde(default)]
    pub kind: String,
    /// The service (`MeshService`, `MeshServiceSubset`) or Dataplane name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Tags the proxy's inbound must carry (`MeshSubset`, `MeshServiceSubset`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Labels of the selected resource (`Dataplane`, `MeshService`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Never allowed on the kinds accepted here.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mesh: String,
    /// Kubernetes namespace (not interpreted on Universal).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// A section (inbound) of the selected resource (not interpreted).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub section_name: String,
    /// `Sidecar` and/or `Gateway` (not interpreted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxy_types: Vec<String>,
}

/// One client group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FromItem {
    /// The clients.
    #[serde(default)]
    pub target_ref: TargetRef,
    /// What they may do.
    #[serde(default)]
    pub default: Conf,
}

/// `default` of a `from` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conf {
    /// Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
}

/// What happens to the clients of a `from` item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Let them in.
    Allow,
    /// Refuse them.
    Deny,
    /// Let them in, but count them as if they were refused (to try a deny out).
    AllowWithShadowDeny,
}

/// The targetRef kinds a MeshTrafficPermission accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TargetRefKind {
    /// Every proxy of the mesh.
    Mesh,
    /// Proxies whose inbound carries some tags.
    MeshSubset,
    /// Proxies of one `kuma.io/service`.
    MeshService,
    /// Proxies of one `kuma.io/service` with some more tags.
    MeshServiceSubset,
    /// One Dataplane, by name or labels.
    Dataplane,
}

const NAME_MESSAGE: &str =
    "invalid characters: must consist of lower case alphanumeric characters, '-', '.' and '_'.";

impl TargetRefKind {
    /// The kind named `kind`, when it is one of these.
    pub fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "Mesh" => Self::Mesh,
            "MeshSubset" => Self::MeshSubset,
            "MeshService" => Self::MeshService,
            "MeshServiceSubset" => Self::MeshServiceSubset,
            "Dataplane" => Self::Dataplane,
            _ => return None,
        })
    }
}

impl TargetRef {
    /// The parsed kind (`None` for a kind validation refuses).
    pub fn kind(&self) -> Option<TargetRefKind> {
        TargetRefKind::parse(&self.kind)
    }
}

impl MeshTrafficPermissionSpec {
    /// Kuma's MeshTrafficPermission validator, rooted at `spec`.
    pub fn validate(&self) -> ValidationError {
        let mut err = ValidationError::default();
        let policy = &self.spec;
        let path = Path::root("spec");
        if let Some(target_ref) = &policy.target_ref {
            check_target_ref(&path.field("targetRef"), target_ref, true, &mut err);
        }
        let has_rules = policy.rules.as_ref().is_some_and(|r| !r.is_null());
        if has_rules {
            err.at(&path.field("rules"), "is not supported by this control plane yet, use 'from'");
        }
        if policy.from.is_empty() && !has_rules {
            err.at(&path, "at least one of 'from' or 'rules' has to be defined");
        }
        for (i, item) in policy.from.iter().enumerate() {
            let at = path.field("from").index(i);
            check_target_ref(&at.field("targetRef"), &item.target_ref, false, &mut err);
            if item.default.action.is_none() {
                err.at(&at.field("default").field("action"), "must be defined");
            }
        }
        err
    }
}

/// Kuma's `ValidateTargetRef` for the kinds a MeshTrafficPermission accepts (`Dataplane` only at
/// the top).
fn check_target_ref(path: &Path, r: &TargetRef, top: bool, err: &mut ValidationError) {
    let kind = r.kind.as_str();
    if kind.is_empty() {
        err.at(&path.field("kind"), "must be defined");
        return;
    }
    let parsed = match r.kind() {
        Some(TargetRefKind::Dataplane) if !top => None,
        parsed => parsed,
    };
    let Some(parsed) = parsed else {
        err.at(&path.field("kind"), "value is not supported");
        return;
    };
    let not_set = |field: &str, set: bool, err: &mut ValidationError| {
        if set {
            err.at(&path.field(field), format!("must not be set with kind {kind}"));
        }
    };
    not_set("mesh", !r.mesh.is_empty(), err);
    match parsed {
        TargetRefKind::Mesh => {
            if !r.name.is_empty() {
                err.at(
                    &path.field("name"),
                    format!("using name with kind {kind} is not yet supported"),
                );
            }
            not_set("tags", !r.tags.is_empty(), err);
            not_set("labels", !r.labels.is_empty(), err);
            not_set("namespace", !r.namespace.is_empty(), err);
            not_set("sectionName", !r.section_name.is_empty(), err);
        }
        TargetRefKind::MeshSubset => {
            not_set("name", !r.name.is_empty(), err);
            check_tags(&path.field("tags"), &r.tags, TagValues::Tag, err);
            not_set("labels", !r.labels.is_empty(), err);
            not_set("namespace", !r.namespace.is_empty(), err);
            not_set("sectionName", !r.section_name.is_empty(), err);
        }
        TargetRefKind::MeshService => {
            check_name(path, &r.name, err);
            not_set("tags", !r.tags.is_empty(), err);
            not_set("proxyTypes", !r.proxy_types.is_empty(), err);
            if r.labels.is_empty() && r.name.is_empty() {
                err.at(&path.field("name"), format!("must be set with kind {kind}"));
            }
            if !r.labels.is_empty() && (!r.name.is_empty() || !r.namespace.is_empty()) {
                err.at(
                    &path.field("labels"),
                    "either labels or name and namespace must be specified",
                );
            }
            if !r.labels.is_empty() && !r.section_name.is_empty() {
                err.at(
                    &path.field("sectionName"),
                    "sectionName should not be combined with labels",
                );
            }
        }
        TargetRefKind::MeshServiceSubset => {
            if r.name.is_empty() {
                err.at(&path.field("name"), format!("must be set with kind {kind}"));
            }
            check_name(path, &r.name, err);
            not_set("proxyTypes", !r.proxy_types.is_empty(), err);
            check_tags(&path.field("tags"), &r.tags, TagValues::Selector, err);
            not_set("labels", !r.labels.is_empty(), err);
            not_set("namespace", !r.namespace.is_empty(), err);
            not_set("sectionName", !r.section_name.is_empty(), err);
        }
        TargetRefKind::Dataplane => {
            not_set("tags", !r.tags.is_empty(), err);
            not_set("proxyTypes", !r.proxy_types.is_empty(), err);
            if !r.labels.is_empty() && (!r.name.is_empty() || !r.namespace.is_empty()) {
                err.at(
                    &path.field("labels"),
                    "either labels or name and namespace must be specified",
                );
            }
        }
    }
}

/// Kuma's `validateName`: `[0-9a-z.\-_]*`.
fn check_name(path: &Path, name: &str, err: &mut ValidationError) {
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-_".contains(&c);
    if !name.bytes().all(ok) {
        err.at(&path.field("name"), NAME_MESSAGE);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn violations(spec: Value) -> Vec<String> {
        let spec: MeshTrafficPermissionSpec =
            serde_json::from_value(json!({ "spec": spec })).unwrap();
        spec.validate().violations.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_policy_allowing_one_service_to_another_is_valid() {
        let spec = json!({
            "targetRef": {"kind": "MeshService", "name": "backend"},
            "from": [{"targetRef": {"kind": "MeshService", "name": "web"}, "default": {"action": "Allow"}}],
        });
        assert_eq!(violations(spec), Vec::<String>::new());
    }

    #[test]
    fn bad_policies_get_kumas_messages() {
        assert_eq!(
            violations(json!({})),
            ["spec: at least one of 'from' or 'rules' has to be defined"]
        );
        let spec = json!({
            "targetRef": {"kind": "MeshHTTPRoute", "name": "r"},
            "from": [
                {"targetRef": {"kind": "Mesh", "name": "x"}, "default": {}},
                {"targetRef": {}, "default": {"action": "Deny"}},
                {"targetRef": {"kind": "MeshService"}, "default": {"action": "Deny"}},
                {"targetRef": {"kind": "Dataplane", "name": "dp"}, "default": {"action": "Deny"}},
                {"targetRef": {"kind": "MeshSubset", "tags": {"version": "*"}}, "default": {"action": "Deny"}},
            ],
        });
        assert_eq!(
            violations(spec),
            [
                "spec.targetRef.kind: value is not supported",
                "spec.from[0].targetRef.name: using name with kind Mesh is not yet supported",
                "spec.from[0].default.action: must be defined",
                "spec.from[1].targetRef.kind: must be defined",
                "spec.from[2].targetRef.name: must be set with kind MeshService",
                "spec.from[3].targetRef.kind: value is not supported",
                r#"spec.from[4].targetRef.tags["version"]: tag value must consist of alphanumeric characters, dots, dashes and underscores"#,
            ]
        );
        let rules = json!({"rules": [{"default": {"allow": [{"spiffeId": {"type": "Exact", "value": "x"}}]}}]});
        assert_eq!(
            violations(rules),
            ["spec.rules: is not supported by this control plane yet, use 'from'"]
        );
    }

    #[test]
    fn unknown_actions_and_fields_are_refused_while_parsing() {
        let bad = json!({"spec": {"from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Maybe"}}]}});
        assert!(serde_json::from_value::<MeshTrafficPermissionSpec>(bad).is_err());
        let bad = json!({"spec": {"to": []}});
        assert!(serde_json::from_value::<MeshTrafficPermissionSpec>(bad).is_err());
    }
}
