//! Integration tests: the global control plane in-process, on loopback, ports chosen by the OS.

#![allow(clippy::unwrap_used)]

mod app;
mod cert_reload;
mod kds_shutdown;
mod zones;
