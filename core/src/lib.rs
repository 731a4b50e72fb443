//! What every kuma-rs binary shares — the control planes, `kumactl` and `kuma-dp` — and nothing
//! that serves or stores.
//!
//! `tls` (the only module naming rustls or parsing PEM), `ca` (mesh CAs, certificates from CSRs),
//! `tokens` (RS256 keys, claims, issuer, validator), `resources` (Kuma's resource types, specs,
//! validation, the universal JSON form, insight shapes), `identity` (a Dataplane's mTLS identity
//! and token view, derived in one place), `net` (the gRPC client connector, backoff, the
//! plain-or-TLS stream), `process` and `shutdown` (binary plumbing). Bytes and values in, bytes
//! and values out: nothing here binds a port, opens a database or reads the environment.
#![warn(missing_docs)]

/// The Kuma release whose API, configuration and behaviour every binary follows.
pub const BASED_ON_KUMA: &str = "2.14.3";

pub mod ca;
pub mod error;
pub mod identity;
pub mod net;
pub mod process;
pub mod resources;
pub mod shutdown;
pub mod tls;
pub mod tokens;
