//! Integration tests: the real `kuma-cp` binary, started as a process on loopback.

#![allow(clippy::unwrap_used)]

mod process;
