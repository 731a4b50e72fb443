//! The client side of the network, for every binary that dials a control plane: the gRPC channel
//! whose TCP and TLS are done here (so a failure says why), the reconnect backoff, and the
//! plain-or-TLS stream type the control plane's listeners use too.
//!
//! This module must stay protocol-blind: it knows nothing of KDS, xDS or DP server messages, it
//! never retries on its own, and it never builds rustls configurations itself (`tls` does).

mod backoff;
mod client;
mod grpc_only;
mod io;

pub use backoff::Backoff;
pub use client::{ChannelSettings, ConnectError, connect};
pub use grpc_only::{NotGrpc, grpc_only, not_grpc, peer_went_away};
pub use io::Io;
