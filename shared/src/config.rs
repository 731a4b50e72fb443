//! kuma-cp configuration: environment variables and the YAML file, parsed into typed settings.
//!
//! Only this module reads the process environment.
