//! Integration tests: the zone control plane in-process, on loopback, every port chosen by the OS.

#![allow(clippy::unwrap_used)]

mod app;
mod cert_reload;
mod defaults;
mod dp_server;
mod envoy;
mod limits;
mod local_admin;
mod mads;
mod multizone;
mod python_zone;
mod tls_scan;
mod xds;
mod zone_cidrs;
