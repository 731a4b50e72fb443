//! Integration tests: the real `kumactl` binary against files, a tiny local API server, and real
//! control planes run in-process.

// The whole crate is test code: helpers outside `#[test]` fns may fail a test by panicking.
#![allow(clippy::unwrap_used)]

mod against_cp;
mod auth;
mod config_cmd;
mod generate;
mod helpers;
mod inspect;
mod offline;
mod operator;
mod readme;
mod tokens;
mod tokens_online;
mod xds;
