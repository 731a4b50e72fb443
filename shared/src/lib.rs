//! Code shared by the global and zone control planes, `kumactl` and `kuma-dp`.
//!
//! The modules form layers. `config`, `tls` and `resources` stand alone; `store` keeps records
//! without knowing what they mean; `api` puts resources, the store and TLS together behind the REST
//! API. Nothing in here binds a port on its own: the `global` and `zone` crates decide what runs.
#![warn(missing_docs)]

pub mod api;
pub mod audit;
pub mod ca;
pub mod config;
pub mod credentials;
pub mod delta;
pub mod kds;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod process;
pub mod resources;
pub mod runtime;
pub mod shutdown;
pub mod store;
pub mod sync;
pub mod tls;
pub mod tokens;
pub mod zones;

#[cfg(feature = "testing")]
pub mod testing;
