//! Generates the messages and services of the protocols the crate's features ask for, from
//! `proto/` with tonic-prost-build: `kds` (Kuma's resources, the KDS services and the delta xDS
//! envelope they travel in) and `dp` (kuma-dp ↔ the zone's DP server).
//!
//! protoc comes from `protoc-bin-vendored` unless `PROTOC` names another one; the well-known types
//! always come from the vendored include directory, so a system protoc needs no extra package.

use std::path::PathBuf;

/// The KDS protocol: Kuma's specs and services, and the Envoy and Google messages they use.
const KDS: &[&str] = &[
    "envoy/config/core/v3/base.proto",
    "envoy/service/discovery/v3/discovery.proto",
    "google/rpc/status.proto",
    "kuma/mesh/v1alpha1/dataplane.proto",
    "kuma/mesh/v1alpha1/dataplane_insight.proto",
    "kuma/mesh/v1alpha1/envoy_admin.proto",
    "kuma/mesh/v1alpha1/kds.proto",
    "kuma/mesh/v1alpha1/mesh.proto",
    "kuma/mesh/v1alpha1/metrics.proto",
    "kuma/mesh/v1alpha1/selector.proto",
    "kuma/mesh/v1alpha1/traffic_permission.proto",
    "kuma/mesh/v1alpha1/zone_ingress.proto",
    "kuma/mesh/v1alpha1/zone_ingress_insight.proto",
    "kuma/system/v1alpha1/datasource.proto",
    "kuma/system/v1alpha1/secret.proto",
    "kuma/system/v1alpha1/zone.proto",
    "kuma/system/v1alpha1/zone_insight.proto",
];

/// The DP server protocol (ours): identity by CSR, rotation, revocation.
const DP: &[&str] = &["kumars/dp/v1/dp.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from("proto");
    let mut protos: Vec<&str> = Vec::new();
    if std::env::var_os("CARGO_FEATURE_KDS").is_some() {
        protos.extend(KDS);
    }
    if std::env::var_os("CARGO_FEATURE_DP").is_some() {
        protos.extend(DP);
    }
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-env-changed=PROTOC");
    if protos.is_empty() {
        return Ok(());
    }
    let files: Vec<PathBuf> = protos.iter().map(|p| root.join(p)).collect();
    let includes = [root.clone(), protoc_bin_vendored::include_path()?];

    let mut config = tonic_prost_build::Config::new();
    if std::env::var_os("PROTOC").is_none() {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    }
    // BTreeMap keeps map fields (labels, tags) in key order, so encoding a message is
    // deterministic and content hashes are stable.
    config.btree_map(["."]);
    // `prost::Name` gives each message its full name and `type.googleapis.com/...` type URL.
    config.enable_type_names();
    config.type_name_domain(["."], "type.googleapis.com");

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_with_config(config, &files, &includes)?;
    Ok(())
}
