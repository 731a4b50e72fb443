//! The `store` crate's integration tests: the conformance suite on every backend, and what only
//! one backend does. One binary, one module per area.
// Helpers outside `#[test]` functions are test code too; `allow-unwrap-in-tests` misses them.
#![allow(clippy::unwrap_used)]

mod conformance;
mod helpers;
mod store_postgres;
mod store_sqlite;
