//! The control-plane platform that the global and the zone both run: configuration, the runtime
//! (work dir, CP certificate, store, credentials, the API and diagnostics listeners, and the
//! extension points where a role adds its routes and tasks), the REST API, credentials kept in
//! the store, KDS (the codec, the delta exchange, the sync rules and the global's shared
//! outgoing snapshots), the listeners with their allowlist, limits and certificate reload, the
//! audit log and the metrics.
//!
//! What every binary needs (TLS, CAs, tokens, resources) is `kuma_core`'s; the records and the
//! change feed are `store`'s. Nothing in here binds a port on its own: the `global` and `zone`
//! crates decide what runs.
#![warn(missing_docs)]

pub mod api;
pub mod audit;
pub mod config;
pub mod credentials;
pub mod defaults;
pub mod insights;
pub mod kds;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod process;
pub mod runtime;

#[cfg(feature = "testing")]
pub mod testing;
