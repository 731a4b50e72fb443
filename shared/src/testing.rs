//! Test helpers, behind the `testing` feature: never compiled into the binaries.
//!
//! Configurations of control planes on loopback with every port chosen by the OS, and clients
//! for them. The PostgreSQL test server is `store::testing`'s; the in-process global and zone
//! harnesses are the `testkit` crate's. They may panic where a test cannot go on, but they must
//! never let a test pass without running.

pub mod cp;
