//! The global control plane: the one place where policies are written in a multizone
//! deployment. It runs the shared runtime (store, REST API, diagnostics) with the global's write
//! rules, and KDS, the server zones connect to.

mod app;
mod kds;

pub use app::{Addresses, App};
