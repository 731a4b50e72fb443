//! The TrafficPermission spec: which sources may reach which destinations, as tag selectors.
//!
//! This module only checks the selectors' shape; matching them against dataplanes belongs to the
//! code that builds proxy configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::validation::{Path, TagValues, ValidationError, check_tags};

/// `TrafficPermission` spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficPermissionSpec {
    /// Who may connect; at least one selector.
    #[serde(default)]
    pub sources: Vec<Selector>,
    /// What they may connect to; at least one selector.
    #[serde(default)]
    pub destinations: Vec<Selector>,
}

/// One selector: every tag must match (`*` matches any value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Tag name to value.
    #[serde(default, rename = "match")]
    pub tags: BTreeMap<String, String>,
}

impl TrafficPermissionSpec {
    /// Kuma's TrafficPermission validator.
    pub(crate) fn validate(&self) -> ValidationError {
        let mut err = ValidationError::default();
        validate_selectors(&Path::root("sources"), &self.sources, &mut err);
        validate_selectors(&Path::root("destinations"), &self.destinations, &mut err);
        err
    }
}

fn validate_selectors(path: &Path, selectors: &[Selector], err: &mut ValidationError) {
    if selectors.is_empty() {
        err.at(path, "must have at least one element");
    }
    for (i, selector) in selectors.iter().enumerate() {
        let at = path.index(i).field("match");
        if selector.tags.is_empty() {
            err.at(&at, "must have at least one tag");
        }
        check_tags(&at, &selector.tags, TagValues::Selector, err);
    }
}
