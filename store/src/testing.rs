//! Test helpers, behind the `testing` feature: never compiled into the binaries.
//!
//! A real PostgreSQL server with TLS, password and client-certificate logins, and the throwaway
//! certificates it uses. They may panic where a test cannot go on, but they must never let a test
//! pass without running.

mod certs;
pub mod postgres;
