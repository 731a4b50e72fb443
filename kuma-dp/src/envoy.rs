//! Envoy, the proxy kuma-dp runs: finding the binary and checking its version, the bootstrap
//! kuma-dp writes for it, the child process, and a client for its admin API on a Unix socket.
//!
//! This module owns how Envoy is started and stopped. It must not hold the private key: Envoy
//! gets the identity only over SDS (`crate::sds`), never through the bootstrap or the command
//! line.

use std::path::PathBuf;
use std::time::Duration;

pub mod admin;
pub mod binary;
pub mod bootstrap;
pub mod node;
pub mod process;

pub use admin::Admin;

/// How kuma-dp runs Envoy (from the `kuma-dp run` flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// `--binary-path`: a path, or a bare name looked up in `search_dirs`.
    pub binary: PathBuf,
    /// Where a bare binary name is looked for: kuma-dp's own directory, then PATH.
    pub search_dirs: Vec<PathBuf>,
    /// `--concurrency`; 0 lets Envoy size its workers to the CPUs it may use.
    pub concurrency: u32,
    /// `--drain-time`.
    pub drain_time: Duration,
    /// `--envoy-log-level`.
    pub log_level: String,
    /// `--envoy-component-log-level`.
    pub component_log_level: Option<String>,
    /// The ADS flavour Envoy asks the control plane for.
    pub ads: AdsVariant,
}

/// The ADS flavour in the bootstrap's `ads_config.api_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdsVariant {
    /// `DELTA_GRPC`, the default.
    Delta,
    /// `GRPC` (state of the world).
    StateOfTheWorld,
}
