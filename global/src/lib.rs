//! The global control plane: the one place where policies are written in a multizone
//! deployment. It runs the shared runtime (store, REST API, diagnostics) with the global's write
//! rules, plus what only the global has: KDS, the server zones connect to, and the zones
//! registry with its routes, added through the runtime's extension points.

mod app;
mod kds;
mod zones;

pub use app::{Addresses, App};
