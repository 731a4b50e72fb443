//! Integration tests: the global control plane in-process, on loopback, ports chosen by the OS.

#![allow(clippy::unwrap_used)]

mod app;
mod kds_shutdown;
