//! Helpers to run a control plane in-process on loopback with every port chosen by the OS.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use crate::config::{self, CpConfig};

/// Settings every test CP gets: loopback interfaces, port 0 everywhere, the work dir given.
/// `extra` pairs override or add variables.
pub fn config(work_dir: &Path, extra: &[(&str, &str)]) -> CpConfig {
    try_config(work_dir, extra).unwrap_or_else(|err| panic!("test config is invalid: {err}"))
}

/// As [`config()`], with a `kuma-cp.yaml` file under the variables.
pub fn config_with_file(work_dir: &Path, file: &Path, extra: &[(&str, &str)]) -> CpConfig {
    load(work_dir, Some(file), extra).unwrap_or_else(|err| panic!("test config is invalid: {err}"))
}

/// As [`config()`], returning the loader's error.
pub fn try_config(work_dir: &Path, extra: &[(&str, &str)]) -> Result<CpConfig, config::Error> {
    load(work_dir, None, extra)
}

fn load(
    work_dir: &Path,
    file: Option<&Path>,
    extra: &[(&str, &str)],
) -> Result<CpConfig, config::Error> {
    let work_dir = work_dir.to_string_lossy().into_owned();
    let mut vars = vec![("KUMA_GENERAL_WORK_DIR", work_dir.as_str())];
    vars.extend_from_slice(extra);
    config::load(&loopback_env(&vars), file)
}

/// Variables for a control plane on loopback: both API interfaces on 127.0.0.1 and every
/// listener of [`config::LISTENER_PORTS`] on port 0 (chosen by the OS), then `extra`, which
/// overrides or adds. For in-process CPs and for `kuma-cp` processes alike.
pub fn loopback_env(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let interfaces = [
        ("KUMA_API_SERVER_HTTP_INTERFACE", "127.0.0.1"),
        ("KUMA_API_SERVER_HTTPS_INTERFACE", "127.0.0.1"),
    ];
    let ports = config::LISTENER_PORTS.map(|var| (var, "0"));
    let all = interfaces.into_iter().chain(ports).chain(extra.iter().copied());
    all.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// A plain HTTP client (with the process crypto provider installed, which reqwest needs).
pub fn http_client() -> reqwest::Client {
    kuma_core::process::install_crypto_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("http client")
}

/// An HTTPS client that trusts only the PEM file at `ca_path` (e.g. `<work dir>/kuma-cp.crt`).
pub fn https_client(ca_path: &Path) -> reqwest::Client {
    kuma_core::process::install_crypto_provider();
    let pem =
        std::fs::read(ca_path).unwrap_or_else(|e| panic!("reading {}: {e}", ca_path.display()));
    let tls = kuma_core::tls::client_config(Some(&pem)).expect("client TLS config");
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("https client")
}

/// Polls `check` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
