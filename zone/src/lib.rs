//! The zone control plane: runs next to the data plane proxies. It runs the shared runtime
//! (store, REST API, diagnostics); on a federated zone (one with a global address) it also runs
//! the KDS client, and resources that the global provides are read-only here. The DP server
//! authenticates data plane proxies and signs their certificates; MADS tells Prometheus what to
//! scrape; the dataplane overview routes show the DP server's insights. Each is added to the
//! runtime through its extension points (routes and tasks).

mod app;
mod dataplanes;
mod dp_server;
mod kds;
mod mads;
pub mod xds;

pub use app::App;
