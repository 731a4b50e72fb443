//! Envoy's config dump JSON (`/config_dump` of the admin API) of what the control plane sends
//! a proxy: `{"configs": [ListenersConfigDump, ClustersConfigDump, EndpointsConfigDump]}` with
//! the resources as typed `Any`s, printed as protojson with proto field names as Envoy does.
//! Private keys never appear: they never reach the control plane (secrets come from kuma-dp).
//!
//! Printing needs the messages' descriptors, which `build.rs` takes from `envoy-types` and
//! embeds. Protobuf maps come out in no particular order, so their keys are sorted here to keep
//! the output (and the golden files) stable.

use std::sync::OnceLock;

use envoy_types::pb::envoy::admin::v3::{
    ClustersConfigDump, ConfigDump, EndpointsConfigDump, ListenersConfigDump, clusters_config_dump,
    endpoints_config_dump, listeners_config_dump,
};
use envoy_types::pb::google::protobuf::Any;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::{Map, Value};

use super::envoy::any;
use super::generate::Resources;

/// The embedded descriptor set (see `build.rs`).
const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/envoy.desc"));

/// Fields whose values are protobuf maps (or `Struct`s under metadata), printed sorted.
const MAP_FIELDS: [&str; 4] =
    ["filter_metadata", "typed_filter_metadata", "typed_extension_protocol_options", "policies"];

/// Why a dump could not be printed; an internal error (a descriptor missing from the set).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded descriptors are broken.
    #[error("the embedded Envoy descriptors cannot be loaded: {0}")]
    Descriptors(String),
    /// A message could not be decoded or printed.
    #[error("the config dump cannot be printed")]
    Print(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The version of each resource, by type and name; empty when versions are not known (golden
/// files).
pub trait Versions {
    /// The version of resource `name` of type `type_url`.
    fn version(&self, type_url: &str, name: &str) -> String;
}

/// No versions.
pub struct Unversioned;

impl Versions for Unversioned {
    fn version(&self, _: &str, _: &str) -> String {
        String::new()
    }
}

/// The config dump of `resources` as JSON.
pub fn config_dump(resources: &Resources, versions: &dyn Versions) -> Result<Value, Error> {
    let listener_type =
        any(&envoy_types::pb::envoy::config::listener::v3::Listener::default()).type_url;
    let cluster_type =
        any(&envoy_types::pb::envoy::config::cluster::v3::Cluster::default()).type_url;
    let endpoint_type =
        any(&envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment::default())
            .type_url;
    let listeners = ListenersConfigDump {
        dynamic_listeners: resources
            .listeners
            .iter()
            .map(|l| listeners_config_dump::DynamicListener {
                name: l.name.clone(),
                active_state: Some(listeners_config_dump::DynamicListenerState {
                    version_info: versions.version(&listener_type, &l.name),
                    listener: Some(any(l)),
                    last_updated: None,
                }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let clusters = ClustersConfigDump {
        dynamic_active_clusters: resources
            .clusters
            .iter()
            .map(|c| clusters_config_dump::DynamicCluster {
                version_info: versions.version(&cluster_type, &c.name),
                cluster: Some(any(c)),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let endpoints = EndpointsConfigDump {
        dynamic_endpoint_configs: resources
            .endpoints
            .iter()
            .map(|e| endpoints_config_dump::DynamicEndpointConfig {
                version_info: versions.version(&endpoint_type, &e.cluster_name),
                endpoint_config: Some(any(e)),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let dump = ConfigDump { configs: vec![any(&listeners), any(&clusters), any(&endpoints)] };
    to_json(&any(&dump))
}

/// `message` (an `Any`) as protojson with proto field names and sorted maps.
fn to_json(message: &Any) -> Result<Value, Error> {
    let pool = pool()?;
    let name = message.type_url.rsplit('/').next().unwrap_or_default();
    let descriptor = pool
        .get_message_by_name(name)
        .ok_or_else(|| Error::Print(format!("no descriptor for {name}").into()))?;
    let dynamic = DynamicMessage::decode(descriptor, message.value.as_slice())
        .map_err(|err| Error::Print(err.into()))?;
    let options = SerializeOptions::new().use_proto_field_name(true);
    let mut value = dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|err| Error::Print(err.into()))?;
    sort_maps(&mut value, false);
    Ok(value)
}

/// The descriptor pool, decoded on first use. It is static data compiled into the binary, so
/// one process-wide copy is all there is to share.
fn pool() -> Result<&'static DescriptorPool, Error> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(DESCRIPTORS).map_err(|err| err.to_string()))
        .as_ref()
        .map_err(|err| Error::Descriptors(err.clone()))
}

/// Sorts the keys of map-valued fields (and, under metadata, of the `Struct`s inside).
fn sort_maps(value: &mut Value, sort_here: bool) {
    match value {
        Value::Object(map) => {
            if sort_here {
                let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                *map = entries.into_iter().collect::<Map<String, Value>>();
            }
            let nested_structs = sort_here;
            for (key, child) in map.iter_mut() {
                let is_map = MAP_FIELDS.contains(&key.as_str());
                sort_maps(
                    child,
                    is_map || (nested_structs && child.is_object() && !key.starts_with('@')),
                );
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| sort_maps(item, false)),
        _ => {}
    }
}
