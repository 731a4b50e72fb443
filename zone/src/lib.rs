//! The zone control plane: runs next to the data plane proxies. Today it runs the shared runtime
//! (store, REST API, diagnostics); on a federated zone (one with a global address) resources that
//! the global provides are read-only. The KDS client and the DP server come with later work.

mod app;

pub use app::App;
