//! The Dataplane spec in Kuma's universal form, and Kuma's checks on its networking section.
//!
//! The parts the control plane reads (address, inbounds and their tags, outbounds, gateway, admin
//! port) are typed; the rest (`transparentProxying`, `metrics`, `probes`, ...) is kept as free JSON
//! so Kuma dataplanes apply unchanged. Nothing here looks at other resources.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::validation::{Path, SERVICE_TAG, TagValues, ValidationError, check_port, check_tags};

/// `Dataplane` spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataplaneSpec {
    /// Where the proxy listens and what it serves; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<Networking>,
    /// Metrics backend override (not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Map<String, Value>>,
    /// Virtual probes (not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<Map<String, Value>>,
}

/// `networking`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Networking {
    /// IP or DNS name other proxies reach this one at.
    #[serde(default)]
    pub address: String,
    /// Public address when behind NAT.
    #[serde(default, alias = "advertised_address", skip_serializing_if = "Option::is_none")]
    pub advertised_address: Option<String>,
    /// Public port when behind NAT.
    #[serde(default, alias = "advertised_port", skip_serializing_if = "Option::is_none")]
    pub advertised_port: Option<u32>,
    /// Services this proxy fronts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inbound: Vec<Inbound>,
    /// Services this proxy reaches without transparent proxying.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<Outbound>,
    /// Set when the proxy is a gateway instead of a sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Gateway>,
    /// Envoy admin listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<Admin>,
    /// Transparent proxying settings (not interpreted).
    #[serde(default, alias = "transparent_proxying", skip_serializing_if = "Option::is_none")]
    pub transparent_proxying: Option<Map<String, Value>>,
}

/// One inbound interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inbound {
    /// Port the proxy listens on for this service.
    #[serde(default)]
    pub port: u32,
    /// Port of the application, when it differs from `port`.
    #[serde(default, alias = "service_port", skip_serializing_if = "Option::is_none")]
    pub service_port: Option<u32>,
    /// Address of the application, when it is not the loopback.
    #[serde(default, alias = "service_address", skip_serializing_if = "Option::is_none")]
    pub service_address: Option<String>,
    /// Address the proxy listens on, when it is not `networking.address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Tags; `kuma.io/service` is required.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Readiness reported by the user or a probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Inbound name, used as a policy section name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Active health check of the application (not interpreted).
    #[serde(default, alias = "service_probe", skip_serializing_if = "Option::is_none")]
    pub service_probe: Option<Map<String, Value>>,
    /// `Ready`, `NotReady` or `Ignored` (not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// Inbound readiness.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Whether the inbound takes traffic.
    #[serde(default)]
    pub ready: bool,
}

/// One outbound interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Outbound {
    /// Local port the application connects to.
    #[serde(default)]
    pub port: u32,
    /// Local address the application connects to (default loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Destination selector; `kuma.io/service` is required unless `backendRef` is set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Destination as a reference to a MeshService and the like (not interpreted).
    #[serde(default, alias = "backend_ref", skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<Map<String, Value>>,
}

/// Gateway mode of a proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Tags; `kuma.io/service` is required.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Who configures the listeners.
    #[serde(default, rename = "type")]
    pub kind: GatewayType,
}

/// Gateway kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GatewayType {
    /// A third-party gateway; Kuma only adds outbounds.
    #[default]
    Delegated,
    /// Kuma's own gateway (MeshGateway).
    Builtin,
}

/// Envoy admin listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Port on the loopback.
    #[serde(default)]
    pub port: u32,
}

/// Where Kuma's Dataplane message has a message (or a `Struct`) inside the sections we keep as
/// JSON. Only the object shape is checked: an array or a scalar there is refused (protojson
/// refuses it, and KDS would silently drop it), the rest is left as given.
#[derive(Clone, Copy)]
enum Part {
    /// A message or `Struct`, with the parts below it that are messages too.
    Object(&'static [(&'static str, Part)]),
    /// A `repeated` message.
    Objects(&'static Part),
}

/// `MetricsBackend`.
const METRICS: Part = Part::Object(&[("conf", Part::Object(&[]))]);
/// `Dataplane.Probes`.
const PROBES: Part = Part::Object(&[("endpoints", Part::Objects(&Part::Object(&[])))]);
/// `Dataplane.Networking.TransparentProxying`.
const TRANSPARENT_PROXYING: Part = Part::Object(&[(
    "reachableBackends",
    Part::Object(&[("refs", Part::Objects(&Part::Object(&[("labels", Part::Object(&[]))])))]),
)]);
/// `Inbound.ServiceProbe`.
const SERVICE_PROBE: Part = Part::Object(&[("tcp", Part::Object(&[]))]);
/// `Outbound.BackendRef`.
const BACKEND_REF: Part = Part::Object(&[("labels", Part::Object(&[]))]);

/// Records a violation wherever `value` does not have `part`'s object shape.
fn check_shape(value: &Value, part: Part, path: &Path, err: &mut ValidationError) {
    match (part, value) {
        (_, Value::Null) => {}
        (Part::Object(fields), Value::Object(object)) => {
            for (name, inner) in fields {
                if let Some(v) = object.get(*name) {
                    check_shape(v, *inner, &path.field(name), err);
                }
            }
        }
        (Part::Object(_), _) => err.at(path, "must be an object"),
        (Part::Objects(item), Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                check_shape(v, *item, &path.index(i), err);
            }
        }
        (Part::Objects(_), _) => err.at(path, "must be a list"),
    }
}

/// [`check_shape`] of a section kept as a JSON object.
fn check_section(
    section: Option<&Map<String, Value>>,
    part: Part,
    path: &Path,
    err: &mut ValidationError,
) {
    if let Some(object) = section {
        check_shape(&Value::Object(object.clone()), part, path, err);
    }
}

impl DataplaneSpec {
    /// Kuma's `DataplaneResource.Validate` for the fields typed here.
    pub(crate) fn validate(&self) -> ValidationError {
        let mut err = ValidationError::default();
        let path = Path::root("networking");
        let Some(net) = &self.networking else {
            err.at(&path, "must be defined");
            return err;
        };
        match &net.gateway {
            Some(gateway) => {
                let kind = match gateway.kind {
                    GatewayType::Delegated => "delegated",
                    GatewayType::Builtin => "builtin",
                };
                if !net.inbound.is_empty() {
                    err.at(
                        &path.field("inbound"),
                        format!("inbound cannot be defined for {kind} gateways"),
                    );
                }
                if gateway.kind == GatewayType::Builtin && !net.outbound.is_empty() {
                    err.at(
                        &path.field("outbound"),
                        "outbound cannot be defined for builtin gateways",
                    );
                }
                validate_gateway(&path.field("gateway").field("tags"), gateway, &mut err);
            }
            None if net.inbound.is_empty() => {
                err.at(&path, "has to contain at least one inbound interface or gateway");
            }
            None => {}
        }
        validate_address(&path.field("address"), &net.address, &mut err);
        for (i, inbound) in net.inbound.iter().enumerate() {
            let at = path.field("inbound").index(i);
            validate_inbound(&at, inbound, &net.address, &mut err);
            if !inbound.tags.contains_key(SERVICE_TAG) {
                err.at(&at.field("tags").key(SERVICE_TAG), "tag has to exist");
            }
        }
        for (i, outbound) in net.outbound.iter().enumerate() {
            validate_outbound(&path.field("outbound").index(i), outbound, &mut err);
        }
        err
    }
}

impl DataplaneSpec {
    /// Rules that a Dataplane being written must follow but a stored one need not (records
    /// stored before these rules existed stay readable and servable): the object shape of the
    /// sections kept as JSON, two inbounds on one address and port, which Envoy cannot both
    /// serve (Kuma accepts it and one listener fails), and an address that is a mistyped IP
    /// address rather than a host name.
    pub(crate) fn validate_input(&self) -> ValidationError {
        let mut err = ValidationError::default();
        check_section(self.metrics.as_ref(), METRICS, &Path::root("metrics"), &mut err);
        check_section(self.probes.as_ref(), PROBES, &Path::root("probes"), &mut err);
        let Some(net) = &self.networking else { return err };
        let path = Path::root("networking");
        let at = path.field("transparentProxying");
        check_section(net.transparent_proxying.as_ref(), TRANSPARENT_PROXYING, &at, &mut err);
        for (i, inbound) in net.inbound.iter().enumerate() {
            let at = path.field("inbound").index(i).field("serviceProbe");
            check_section(inbound.service_probe.as_ref(), SERVICE_PROBE, &at, &mut err);
        }
        for (i, outbound) in net.outbound.iter().enumerate() {
            let at = path.field("outbound").index(i).field("backendRef");
            check_section(outbound.backend_ref.as_ref(), BACKEND_REF, &at, &mut err);
        }
        if looks_like_an_ip(&net.address) {
            err.at(&path.field("address"), "address has to be valid IP address or domain name");
        }
        let mut listening: HashMap<(&str, u32), usize> = HashMap::new();
        for (i, inbound) in net.inbound.iter().enumerate() {
            let address =
                inbound.address.as_deref().filter(|a| !a.is_empty()).unwrap_or(&net.address);
            if let Some(first) = listening.insert((address, inbound.port), i) {
                let (at, other) =
                    (path.field("inbound").index(i), path.field("inbound").index(first));
                err.at(
                    &at.field("port"),
                    format!("{address}:{} is already used by {other}", inbound.port),
                );
            }
        }
        err
    }
}

/// A name whose last label is all digits (`10.0.0.300`, `1234`) that is not an IP address: a
/// mistyped IP address, never a host name (RFC 3696 §2), though govalidator accepts it.
fn looks_like_an_ip(address: &str) -> bool {
    let name = address.strip_suffix('.').unwrap_or(address);
    address.parse::<IpAddr>().is_err()
        && name
            .rsplit('.')
            .next()
            .is_some_and(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_digit()))
}

pub(crate) fn validate_address(path: &Path, address: &str, err: &mut ValidationError) {
    if address.is_empty() {
        err.at(path, "address can't be empty");
        return;
    }
    if address == "0.0.0.0" || address == "::" {
        err.at(path, "must not be 0.0.0.0 or ::");
    }
    if address.parse::<IpAddr>().is_err() && !is_dns_name(address) {
        err.at(path, "address has to be valid IP address or domain name");
    }
}

/// govalidator's `IsDNSName`: labels of letters, digits, `_` and inner `-`, at most 255 bytes.
fn is_dns_name(s: &str) -> bool {
    let name = s.strip_suffix('.').unwrap_or(s);
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
    };
    !name.is_empty() && s.len() <= 255 && name.split('.').all(label_ok)
}

fn validate_inbound(path: &Path, inbound: &Inbound, dp_address: &str, err: &mut ValidationError) {
    check_port(&path.field("port"), inbound.port, err);
    let service_port = inbound.service_port.unwrap_or(0);
    if service_port != 0 {
        check_port(&path.field("servicePort"), service_port, err);
    }
    let same_port = service_port == 0 || service_port == inbound.port;
    let differ = "serviceAddress and servicePort has to differ from address and port";
    if let Some(service_address) = inbound.service_address.as_deref().filter(|a| !a.is_empty()) {
        if service_address.parse::<IpAddr>().is_err() {
            err.at(&path.field("serviceAddress"), "serviceAddress has to be valid IP address");
        }
        if service_address == dp_address && same_port {
            err.at(&path.field("serviceAddress"), differ);
        }
    }
    if let Some(address) = inbound.address.as_deref().filter(|a| !a.is_empty()) {
        if address.parse::<IpAddr>().is_err() {
            err.at(&path.field("address"), "address has to be valid IP address");
        }
        if Some(address) == inbound.service_address.as_deref() && same_port {
            err.at(&path.field("serviceAddress"), differ);
        }
    }
    check_tags(&path.field("tags"), &inbound.tags, TagValues::Tag, err);
}

fn validate_outbound(path: &Path, outbound: &Outbound, err: &mut ValidationError) {
    check_port(&path.field("port"), outbound.port, err);
    if let Some(address) = outbound.address.as_deref().filter(|a| !a.is_empty())
        && address.parse::<IpAddr>().is_err()
    {
        err.at(&path.field("address"), "address has to be valid IP address");
    }
    let tags = path.field("tags");
    match &outbound.backend_ref {
        Some(_) if !outbound.tags.is_empty() => {
            err.at(&path.field("backendRef"), "both backendRef and tags/service cannot be defined");
        }
        Some(_) => {}
        None => {
            check_tags(&tags, &outbound.tags, TagValues::Tag, err);
            if !outbound.tags.contains_key(SERVICE_TAG) {
                err.at(&tags, format!("mandatory tag {SERVICE_TAG:?} is missing"));
            }
        }
    }
}

fn validate_gateway(path: &Path, gateway: &Gateway, err: &mut ValidationError) {
    check_tags(path, &gateway.tags, TagValues::Tag, err);
    if let Some(protocol) = gateway.tags.get("kuma.io/protocol")
        && protocol != "tcp"
    {
        err.at(
            &path.key("kuma.io/protocol"),
            format!("other values than tcp are not allowed, provided value {protocol:?}"),
        );
    }
    if !gateway.tags.contains_key(SERVICE_TAG) {
        err.at(path, format!("mandatory tag {SERVICE_TAG:?} is missing"));
    }
}
