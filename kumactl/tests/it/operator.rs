//! What an operator reaches for, against a real zone: `version`, `completion`, `inspect meshes`
//! and `inspect services`, the list of types on a mistyped TYPE, and errors that say what to do
//! (a certificate the CA file does not vouch for, the wrong scheme for a port, a refused token).

use std::path::Path;
use std::time::Duration;

use shared::testing::cp::eventually;
use testkit::Zone;

use crate::helpers::{connect, kumactl, stderr, stdout};

const WAIT: Duration = Duration::from_secs(10);

async fn ok(dir: &Path, args: &[&str]) -> String {
    let out = kumactl(dir, args).await;
    assert!(out.status.success(), "kumactl {args:?}: {}", stderr(&out));
    stdout(&out)
}

async fn fails(dir: &Path, args: &[&str]) -> String {
    let out = kumactl(dir, args).await;
    assert!(!out.status.success(), "kumactl {args:?} succeeded: {}", stdout(&out));
    stderr(&out)
}

#[tokio::test]
async fn version_reports_the_client_and_the_server_when_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let client = format!("Client: kumactl {} (Kuma 2.14.3 API)\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(ok(dir.path(), &["version", "--client"]).await, client);

    // The fresh configuration points at localhost:5681, where nothing listens in tests.
    let args = ["config", "control-planes", "add", "--name", "gone", "--address"];
    let zone = Zone::start(&dir.path().join("cp"), &[]).await;
    ok(dir.path(), &[&args[..], &[zone.api.as_str()]].concat()).await;
    let text = ok(dir.path(), &["version"]).await;
    assert_eq!(
        text,
        format!(
            "{client}Server: Kuma {} (Kuma 2.14.3 API) at {}\n",
            env!("CARGO_PKG_VERSION"),
            zone.api
        )
    );
    zone.stop().await;
    let text = ok(dir.path(), &["version"]).await;
    assert!(text.starts_with(&format!("{client}Server: not reachable: GET ")), "{text}");
}

#[tokio::test]
async fn completion_scripts_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in
        [("bash", "complete -F"), ("zsh", "#compdef kumactl"), ("fish", "complete -c kumactl")]
    {
        let script = ok(dir.path(), &["completion", shell]).await;
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("inspect"), "{shell} completes the subcommands");
    }
    let err = fails(dir.path(), &["completion", "powershell"]).await;
    assert!(err.contains("[possible values: bash, zsh, fish]"), "{err}");
}

#[tokio::test]
async fn inspect_meshes_and_services_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().join("work");
    let zone = Zone::start(&work_dir, &[]).await;
    connect(dir.path(), &zone, &zone.ca).await;
    let yaml = "\
type: Mesh
name: demo
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
---
type: Dataplane
mesh: demo
name: web-1
networking:
  address: 10.0.0.1
  inbound:
  - port: 8080
    tags:
      kuma.io/service: web
";
    let file = dir.path().join("demo.yaml");
    std::fs::write(&file, yaml).unwrap();
    ok(dir.path(), &["apply", "-f", file.to_str().unwrap()]).await;

    let table = eventually("demo in inspect meshes", WAIT, || async {
        let table = ok(dir.path(), &["inspect", "meshes"]).await;
        table.lines().any(|l| l.starts_with("demo ") && l.contains("0/1")).then_some(table)
    })
    .await;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    assert_eq!(header[..4], ["NAME", "mTLS", "ISSUED BACKENDS", "SUPPORTED BACKENDS"], "{table}");
    let demo: Vec<&str> =
        table.lines().find(|l| l.starts_with("demo ")).unwrap().split_whitespace().collect();
    assert_eq!(demo, ["demo", "builtin/ca-1", "-", "-", "0/1", "1", "0"], "{table}");
    let default: Vec<&str> =
        table.lines().find(|l| l.starts_with("default ")).unwrap().split_whitespace().collect();
    assert_eq!(default[..2], ["default", "off"], "the default mesh of a new zone: {table}");

    let services = ok(dir.path(), &["inspect", "services", "-m", "demo"]).await;
    let row: Vec<&str> = services.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, ["web", "internal", "offline", "0/1", "-"], "{services}");
    let err = fails(dir.path(), &["inspect", "services", "-m", "nope"]).await;
    assert_eq!(err, "Error: there is no Mesh with name \"nope\"\n");

    let err = fails(dir.path(), &["get", "meshs"]).await;
    assert!(
        err.starts_with("Error: unknown TYPE: meshs. Available types: mesh, meshes, "),
        "{err}"
    );
    let err = fails(dir.path(), &["delete", "mesh-x", "m"]).await;
    assert!(err.contains("Available types: mesh, meshes, secret, secrets, "), "{err}");
    zone.stop().await;
}

/// `kumactl config control-planes add --name cp --address <address> <extra>`.
async fn add(dir: &Path, address: &str, extra: &[&str]) -> std::process::Output {
    let args = ["config", "control-planes", "add", "--name", "cp", "--overwrite", "--address"];
    kumactl(dir, &[&args[..], &[address], extra].concat()).await
}

async fn add_fails(dir: &Path, address: &str, extra: &[&str]) -> String {
    let out = add(dir, address, extra).await;
    assert!(!out.status.success(), "adding {address} succeeded");
    stderr(&out)
}

#[tokio::test]
async fn connection_errors_name_the_cause_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cli = dir.path();
    // Not a local admin over loopback, so that the token is what counts.
    let zone =
        Zone::start(&cli.join("cp"), &[("KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN", "false")])
            .await;

    // A CA file of another control plane (its work dir was made anew, say).
    let other = tempfile::tempdir().unwrap();
    kuma_core::tls::load_or_generate_cp_cert(other.path(), time::OffsetDateTime::now_utc())
        .unwrap();
    let wrong_ca = other.path().join("kuma-cp.crt");
    let err = add_fails(cli, &zone.https(), &["--ca-cert-file", wrong_ca.to_str().unwrap()]).await;
    let expected = format!(
        "the server's certificate is not signed by --ca-cert-file {}; if the control plane was \
         restarted with a new work dir its certificate changed",
        wrong_ca.display()
    );
    assert!(err.contains(&expected), "{err}");

    // https:// on the plain HTTP port, and http:// on the HTTPS port.
    let http_port = zone.addresses.http.unwrap().port();
    let err = add_fails(cli, &format!("https://localhost:{http_port}"), &[]).await;
    assert!(err.contains("answered in plain HTTP, not TLS: use http:// for this port"), "{err}");
    let https_port = zone.addresses.https.unwrap().port();
    let err = add_fails(cli, &format!("http://localhost:{https_port}"), &[]).await;
    assert!(err.contains("did not answer in HTTP: this looks like an HTTPS port"), "{err}");

    // A saved token the control plane refuses: `add` passes (`GET /` needs no user), then use.
    let token = ["--auth-type", "tokens", "--auth-conf", "token=not.a.token"];
    let out = add(cli, &zone.api, &token).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = fails(cli, &["get", "meshes"]).await;
    let expected = "the control plane refused the user token saved for Control Plane \"cp\" \
                    (Unauthenticated";
    assert!(err.contains(expected), "{err}");
    zone.stop().await;
}
