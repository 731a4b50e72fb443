//! xDS for data plane proxies: the generator (pure functions from a mesh view to the Envoy
//! listeners, clusters and endpoints of one proxy, pinned by golden files) and its config dump.
//! Secrets are never generated here: the CP never holds a proxy's private key, so listeners and
//! clusters name them and Envoy fetches them from kuma-dp's SDS server (the `kuma:sds` cluster).

mod dump;
mod envoy;
mod generate;
mod http;
mod inbound;
mod outbound;
mod protocol;
mod rbac;
mod snapshot;
mod tls;
mod view;
mod views;

#[cfg(test)]
mod tests;

pub use dump::{Unversioned, Versions, config_dump};
pub use generate::{Generated, Resources, generate};
pub use snapshot::{Entry, Snapshot, TypeSnapshot, XdsType};
pub use view::{Dataplane, Endpoint, MeshView, Mtls, Policy};
pub use views::Views;
