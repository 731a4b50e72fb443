//! Integration tests: the real `kuma-dp` binary against an in-process zone on loopback, every
//! port chosen by the OS.

#![allow(clippy::unwrap_used)]

mod run;
