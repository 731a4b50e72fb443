//! Writes `$OUT_DIR/envoy.desc`: the protobuf descriptors of the Envoy messages the xDS generator
//! emits, so that `xds::dump` can print them as Envoy's own config dump JSON (protojson, with
//! typed `Any`s) through prost-reflect.
//!
//! The descriptors come from the `envoy-types` crate, which ships the descriptor set its Rust
//! types were generated from (`src/generated/types.bin`) without exporting it. Cargo tells where
//! that crate's sources are (`cargo metadata`); only the files of the packages listed below and
//! their imports are kept, which makes the embedded set about a tenth of the full one.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;

use prost::Message;
use prost_types::FileDescriptorSet;

/// Protobuf packages whose messages the generator emits or the config dump wraps them in.
const PACKAGES: &[&str] = &[
    "envoy.admin.v3",
    "envoy.config.cluster.v3",
    "envoy.config.endpoint.v3",
    "envoy.config.listener.v3",
    "envoy.extensions.filters.http.grpc_stats.v3",
    "envoy.extensions.filters.http.rbac.v3",
    "envoy.extensions.filters.http.router.v3",
    "envoy.extensions.filters.listener.tls_inspector.v3",
    "envoy.extensions.filters.network.http_connection_manager.v3",
    "envoy.extensions.filters.network.rbac.v3",
    "envoy.extensions.filters.network.tcp_proxy.v3",
    "envoy.extensions.transport_sockets.raw_buffer.v3",
    "envoy.extensions.transport_sockets.tls.v3",
    "envoy.extensions.upstreams.http.v3",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let source = envoy_types_descriptors();
    println!("cargo:rerun-if-changed={}", source.display());
    let bytes =
        std::fs::read(&source).unwrap_or_else(|err| panic!("reading {}: {err}", source.display()));
    let full = FileDescriptorSet::decode(bytes.as_slice())
        .unwrap_or_else(|err| panic!("decoding {}: {err}", source.display()));
    let pruned = prune(full);
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("envoy.desc"), pruned.encode_to_vec()).expect("writing envoy.desc");
}

/// `src/generated/types.bin` of the `envoy-types` package this build resolved.
fn envoy_types_descriptors() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    // Only this target's packages: those are downloaded already, so no network is needed.
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", &target])
        .arg("--manifest-path")
        .arg(PathBuf::from(manifest).join("Cargo.toml"))
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let manifest_path = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "envoy-types")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("envoy-types is a dependency");
    PathBuf::from(manifest_path)
        .parent()
        .expect("a manifest path has a parent")
        .join("src/generated/types.bin")
}

/// The files declaring [`PACKAGES`] and everything they import, in dependency order.
fn prune(full: FileDescriptorSet) -> FileDescriptorSet {
    let by_name: HashMap<String, &prost_types::FileDescriptorProto> =
        full.file.iter().map(|f| (f.name().to_owned(), f)).collect();
    let mut keep = BTreeSet::new();
    let mut todo: Vec<String> = full
        .file
        .iter()
        .filter(|f| PACKAGES.contains(&f.package()))
        .map(|f| f.name().to_owned())
        .collect();
    while let Some(name) = todo.pop() {
        if keep.insert(name.clone()) {
            let file = by_name.get(&name).unwrap_or_else(|| panic!("{name} is not in types.bin"));
            todo.extend(file.dependency.iter().cloned());
        }
    }
    let file = full
        .file
        .into_iter()
        .filter(|f| keep.contains(f.name()))
        .map(|mut f| {
            // Comments and source positions are most of the size and nothing reads them.
            f.source_code_info = None;
            f
        })
        .collect();
    FileDescriptorSet { file }
}
