//! Tests of `config::load` through the `HashMap` source; never the process environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;

mod defaults;
mod env_names;
mod errors;
mod file;
mod kds_auth;
mod kuma_file;
mod tokens;

/// A source holding `pairs` plus `HOME=/home/kuma`.
fn source<'a>(pairs: &[(&'a str, &'a str)]) -> HashMap<&'a str, &'a str> {
    let mut map: HashMap<&str, &str> = pairs.iter().copied().collect();
    map.entry("HOME").or_insert("/home/kuma");
    map
}

fn load_env(pairs: &[(&str, &str)]) -> Result<CpConfig, Error> {
    load(&source(pairs), None)
}

/// The error message `load` gives for `pairs`.
fn env_error(pairs: &[(&str, &str)]) -> String {
    match load_env(pairs) {
        Ok(_) => panic!("expected an error for {pairs:?}"),
        Err(err) => err.to_string(),
    }
}

/// A temp dir with a PEM-named file in it, standing in for certificate and key files.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for name in ["cert.pem", "key.pem", "ca.pem"] {
            std::fs::write(dir.path().join(name), "not parsed here").unwrap();
        }
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn missing_file() -> &'static Path {
    Path::new("/nonexistent/kuma-config-test/file.pem")
}
