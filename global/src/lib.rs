//! The global control plane: the one place where policies are written in a multizone
//! deployment. Today it runs the shared runtime (store, REST API, diagnostics) with the global's
//! write rules; KDS, the server that zones connect to, comes with the multizone work.

mod app;

pub use app::App;
