//! The REST API: an axum router over the store, with Kuma's paths, bodies and errors.
