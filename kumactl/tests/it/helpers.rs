//! Running the binary against a real zone in-process (`testkit::Zone`) or a minimal control
//! plane index (`GET /`) on 127.0.0.1:0.

use std::net::TcpListener;
use std::path::Path;
use std::process::Output;

use axum::Router;
use axum::routing::get;
use kuma_core::tls::{CertKind, CertPair, ClientAuth, KeyType, ServerTlsOptions};
use testkit::Zone;

/// Points kumactl (config in `dir`) at the CP over HTTPS, trusting the CP's own certificate file.
pub async fn connect(dir: &Path, cp: &Zone, ca: &Path) {
    let out = add_cp(dir, cp, ca, &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `kumactl config control-planes add --name cp` for `cp` over HTTPS, with `extra` flags.
pub async fn add_cp(dir: &Path, cp: &Zone, ca: &Path, extra: &[&str]) -> Output {
    let ca = ca.to_str().unwrap();
    let args = [
        "config",
        "control-planes",
        "add",
        "--name",
        "cp",
        "--address",
        &cp.https(),
        "--ca-cert-file",
        ca,
        "--overwrite",
    ];
    kumactl(dir, &[&args[..], extra].concat()).await
}

/// A running index server; dropped, it stops.
pub struct Cp {
    pub url: String,
    handle: axum_server::Handle<std::net::SocketAddr>,
}

impl Drop for Cp {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

fn router() -> Router {
    Router::new().route(
        "/",
        get(|| async { axum::Json(serde_json::json!({"hostname": "test", "product": "Kuma"})) }),
    )
}

/// Serves `GET /` over plain HTTP.
pub async fn http_cp() -> Cp {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp(listener).unwrap().handle(handle.clone());
    tokio::spawn(server.serve(router().into_make_service()));
    Cp { url: format!("http://127.0.0.1:{port}"), handle }
}

/// Serves `GET /` over HTTPS with `pair`, at `https://localhost:{port}`.
pub async fn https_cp(pair: &CertPair) -> Cp {
    let opts = ServerTlsOptions::default();
    let tls = kuma_core::tls::server_config(pair, &opts, ClientAuth::None, &[b"h2", b"http/1.1"])
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = axum_server::Handle::new();
    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls);
    let server = axum_server::from_tcp_rustls(listener, config).unwrap().handle(handle.clone());
    tokio::spawn(server.serve(router().into_make_service()));
    Cp { url: format!("https://localhost:{port}"), handle }
}

/// A server certificate for `localhost` and `127.0.0.1`.
pub fn server_pair() -> CertPair {
    let hosts = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    kuma_core::tls::generate_certificate(
        CertKind::Server,
        &hosts,
        KeyType::Ecdsa,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap()
}

/// Runs kumactl in `dir` with `--config-file dir/config`.
pub async fn kumactl(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_kumactl"))
        .current_dir(dir)
        .arg("--config-file")
        .arg(dir.join("config"))
        .args(args)
        .output()
        .await
        .unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
