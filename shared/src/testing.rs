//! Test helpers, behind the `testing` feature.
