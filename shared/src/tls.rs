//! TLS for every listener and client: the control plane certificate and rustls configurations.
//!
//! This is the only module that names rustls or parses PEM.
