//! Integration tests: the real `kuma-dp` binary, running the real Envoy, against an in-process
//! zone on loopback, every port chosen by the OS.

#![allow(clippy::unwrap_used)]

mod envoy;
mod fatal;
mod helpers;
mod mesh;
mod run;
mod sds;
