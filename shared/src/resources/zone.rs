//! The `Zone` spec: whether a zone may connect to the global control plane.
//!
//! Zone liveness and insights live elsewhere; this is only what a user writes.

use serde::{Deserialize, Serialize};

/// `Zone` spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    /// A disabled zone is refused by the global; zones are enabled unless told otherwise.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

impl Default for ZoneSpec {
    fn default() -> Self {
        Self { enabled: true }
    }
}
