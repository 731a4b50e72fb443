//! An independent client (Python grpcio, stubs generated from `proto/` by grpc_tools) connects to
//! the global as a zone and receives the mesh: the wire format is not tied to our Rust code.

use std::path::Path;
use std::process::Command;

use kuma_core::shutdown;
use serde_json::json;
use shared::testing::cp::{config, http_client};

const SKIP_VAR: &str = "KUMA_TEST_PYTHON";

#[tokio::test]
async fn python_grpc_zone_receives_the_mesh() {
    if std::env::var(SKIP_VAR).as_deref() == Ok("skip") {
        eprintln!("{SKIP_VAR}=skip: not running the Python KDS client");
        return;
    }
    let probe = Command::new("python3").args(["-c", "import grpc_tools, grpc"]).output().unwrap();
    assert!(
        probe.status.success(),
        "python3 cannot import grpc: run `python3 -m pip install grpcio grpcio-tools` (or set \
         {SKIP_VAR}=skip)"
    );
    let dir = tempfile::tempdir().unwrap();
    let stubs = dir.path().join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    let root = Path::new(proto::PROTO_DIR);
    let mut files = Vec::new();
    collect(root, root, &mut files);
    let compile = Command::new("python3")
        .args(["-m", "grpc_tools.protoc", &format!("-I{}", root.display())])
        .arg(format!("--python_out={}", stubs.display()))
        .arg(format!("--grpc_python_out={}", stubs.display()))
        .args(&files)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(compile.status.success(), "{}", String::from_utf8_lossy(&compile.stderr));

    let work = dir.path().join("global");
    let app = global::App::build(config(&work, &[("KUMA_MODE", "global")])).await.unwrap();
    let addrs = app.addresses();
    let (trigger, shutdown) = shutdown::channel();
    let task = tokio::spawn(app.run(shutdown));
    let api = format!("http://localhost:{}", addrs.runtime.http.unwrap().port());
    let client = http_client();
    let resp = client
        .put(format!("{api}/meshes/default"))
        .json(&json!({"type": "Mesh", "name": "default"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let token = client
        .post(format!("{api}/tokens/zone"))
        .json(&json!({"zone": "py-zone", "scope": ["cp"], "validFor": "1h"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/kds_zone.py");
    let target = format!("127.0.0.1:{}", addrs.kds.port());
    let ca = work.join("kuma-cp.crt");
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(&stubs)
        .arg(&target)
        .arg(&ca)
        .arg("py-zone")
        .arg(token.trim())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python zone failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("mesh default default. global"), "{stdout}");

    trigger.fire();
    task.await.unwrap().unwrap();
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}
