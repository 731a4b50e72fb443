//! The `kuma-core` crate's integration tests: one binary, one module per area.
// Helpers outside `#[test]` functions are test code too; `allow-unwrap-in-tests` misses them.
#![allow(clippy::unwrap_used)]

mod ca;
mod tokens;
mod tokens_python;
