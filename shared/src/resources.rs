//! Kuma resources in their universal (REST and YAML) form: types, specs and validation.
//!
//! This module decides what a valid resource is and how it looks on the wire. It knows nothing of
//! where resources are stored or who may write them.

mod kind;

pub use kind::{Origin, ResourceType, Scope};
