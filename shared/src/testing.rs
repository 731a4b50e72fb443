//! Test helpers, behind the `testing` feature: never compiled into the binaries.
//!
//! They start real servers (PostgreSQL with TLS) and mint throwaway certificates. They may panic
//! where a test cannot go on, but they must never let a test pass without running.

mod certs;
pub mod cp;
pub mod postgres;
