//! The Mesh spec in Kuma's universal form, and its shape-level checks.
//!
//! Only `mtls` is typed: the control plane acts on it. The other sections (`logging`, `metrics`,
//! ...) are kept as JSON so real Kuma meshes apply unchanged, but they are checked against Kuma's
//! protobuf messages and stored in protojson's canonical form ([`MeshSpec::canonical`]), so an
//! unknown or mistyped field is refused at apply time instead of being lost on its way to a zone.
//! Each CA backend's `conf` is checked by the CA code, not here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::duration::KumaDuration;
use super::protojson::{self, Shape};
use super::validation::{Path, ValidationError, is_dns_label};

/// `Mesh` spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshSpec {
    /// Mutual TLS and its CA backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<Mtls>,
    /// Access-log backends (not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Map<String, Value>>,
    /// Metrics backends (not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Map<String, Value>>,
    /// Tracing backends (not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Map<String, Value>>,
    /// Networking options such as outbound passthrough (not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<Map<String, Value>>,
    /// Routing options (not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Map<String, Value>>,
    /// Dataplane proxy constraints (not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Map<String, Value>>,
}

/// `mtls`: the CA backends and which one signs certificates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mtls {
    /// Name of the backend in use; empty means mTLS is off.
    #[serde(default, alias = "enabled_backend", skip_serializing_if = "String::is_empty")]
    pub enabled_backend: String,
    /// CA backends. Unlike Kuma OSS, several may be listed (to prepare a CA rotation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<CaBackend>,
    /// Skip the backend checks that need the CA (for example a missing provided secret).
    #[serde(default, alias = "skip_validation", skip_serializing_if = "std::ops::Not::not")]
    pub skip_validation: bool,
}

/// One CA backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaBackend {
    /// Backend name; becomes part of secret names, so it must be a DNS label.
    #[serde(default)]
    pub name: String,
    /// Which CA plugin runs it.
    #[serde(rename = "type")]
    pub kind: CaType,
    /// Whether inbound traffic must be mTLS.
    #[serde(default)]
    pub mode: Mode,
    /// Settings for the certificates issued to data plane proxies.
    #[serde(default, alias = "dp_cert", skip_serializing_if = "Option::is_none")]
    pub dp_cert: Option<DpCert>,
    /// Plugin configuration, checked by the CA code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<Map<String, Value>>,
    /// Root chain options (`requestTimeout`; not interpreted).
    #[serde(default, alias = "root_chain", skip_serializing_if = "Option::is_none")]
    pub root_chain: Option<Map<String, Value>>,
}

/// CA plugin type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaType {
    /// The control plane generates and keeps the CA.
    Builtin,
    /// The user supplies the CA certificate and key.
    Provided,
}

/// mTLS mode of a backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mode {
    /// Inbound accepts only mTLS.
    #[default]
    Strict,
    /// Inbound accepts mTLS and plaintext; outbound always uses mTLS.
    Permissive,
}

/// `dpCert`: data plane certificate settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DpCert {
    /// Certificate lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// How long a proxy waits for a certificate (a protobuf duration such as `10s`; not interpreted).
    #[serde(default, alias = "request_timeout", skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<String>,
}

/// `dpCert.rotation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rotation {
    /// Certificate lifetime in Kuma's duration format (`1d`); checked by the mesh validator.
    #[serde(default)]
    pub expiration: String,
}

impl MeshSpec {
    /// The backend named by `mtls.enabledBackend`, when mTLS is on.
    pub fn enabled_backend(&self) -> Option<&CaBackend> {
        let mtls = self.mtls.as_ref()?;
        mtls.backends.iter().find(|b| b.name == mtls.enabled_backend)
    }

    /// Kuma's mesh validator, allowing several backends.
    pub(crate) fn validate(&self) -> ValidationError {
        let mut err = ValidationError::default();
        let Some(mtls) = &self.mtls else { return err };
        let path = Path::root("mtls");
        let mut seen = std::collections::HashSet::new();
        for (i, backend) in mtls.backends.iter().enumerate() {
            let name_path = path.field("backends").index(i).field("name");
            if backend.name.is_empty() {
                err.at(&name_path, "cannot be empty");
            } else if !is_dns_label(&backend.name) {
                err.at(&name_path, format!("{:?} name must be valid dns name", backend.name));
            }
            if !seen.insert(backend.name.as_str()) {
                err.at(
                    &name_path,
                    format!("{:?} name is already used for another backend", backend.name),
                );
            }
        }
        if !mtls.enabled_backend.is_empty() && !seen.contains(mtls.enabled_backend.as_str()) {
            err.at(
                &path.field("enabledBackend"),
                "has to be set to one of the backends in the mesh",
            );
        }
        for (i, backend) in mtls.backends.iter().enumerate() {
            if let Some(dp_cert) = &backend.dp_cert {
                // Kuma parses the expiration whenever dpCert is present, so an empty one fails too.
                let expiration = dp_cert.rotation.as_ref().map_or("", |r| r.expiration.as_str());
                if KumaDuration::parse(expiration).is_err() {
                    let at = path.field("backends").index(i).field("dpCert.rotation.expiration");
                    err.at(&at, "has to be a valid format");
                }
            }
        }
        err
    }
}

/// The fields of one protobuf message: (protojson name, proto name, shape).
type Fields = &'static [(&'static str, &'static str, Shape)];

/// `kuma.mesh.v1alpha1.Logging`.
const LOGGING: Fields = &[
    ("defaultBackend", "default_backend", Shape::String),
    (
        "backends",
        "backends",
        Shape::List(&Shape::Message(&[
            ("name", "name", Shape::String),
            ("format", "format", Shape::String),
            ("type", "type", Shape::String),
            ("conf", "conf", Shape::Struct),
        ])),
    ),
];
/// `kuma.mesh.v1alpha1.Metrics`.
const METRICS: Fields = &[
    ("enabledBackend", "enabled_backend", Shape::String),
    (
        "backends",
        "backends",
        Shape::List(&Shape::Message(&[
            ("name", "name", Shape::String),
            ("type", "type", Shape::String),
            ("conf", "conf", Shape::Struct),
        ])),
    ),
];
/// `kuma.mesh.v1alpha1.Tracing`.
const TRACING: Fields = &[
    ("defaultBackend", "default_backend", Shape::String),
    (
        "backends",
        "backends",
        Shape::List(&Shape::Message(&[
            ("name", "name", Shape::String),
            ("sampling", "sampling", Shape::Number),
            ("type", "type", Shape::String),
            ("conf", "conf", Shape::Struct),
        ])),
    ),
];
/// `kuma.mesh.v1alpha1.Networking`.
const NETWORKING: Fields = &[(
    "outbound",
    "outbound",
    Shape::Message(&[("passthrough", "passthrough", Shape::WrappedBool)]),
)];
/// `kuma.mesh.v1alpha1.Routing`.
const ROUTING: Fields = &[
    ("localityAwareLoadBalancing", "locality_aware_load_balancing", Shape::Bool),
    ("zoneEgress", "zone_egress", Shape::Bool),
    (
        "defaultForbidMeshExternalServiceAccess",
        "default_forbid_mesh_external_service_access",
        Shape::Bool,
    ),
];
/// `kuma.mesh.v1alpha1.Mesh.Constraints`.
const CONSTRAINTS: Fields = &[(
    "dataplaneProxy",
    "dataplane_proxy",
    Shape::Message(&[
        ("requirements", "requirements", Shape::List(&RULES)),
        ("restrictions", "restrictions", Shape::List(&RULES)),
    ]),
)];
const RULES: Shape = Shape::Message(&[("tags", "tags", Shape::Tags)]);
/// `CertificateAuthorityBackend.RootChain`.
const ROOT_CHAIN: Fields = &[("requestTimeout", "request_timeout", Shape::Duration)];

impl MeshSpec {
    /// The spec as Kuma would store it: the JSON sections checked field by field against Kuma's
    /// messages (unknown names and wrong types are violations at their paths) and rewritten in
    /// protojson's canonical form (camelCase names, defaults left out, `Struct` numbers as
    /// doubles, durations as `"1.500s"`). The result is exactly what a zone rebuilds from the KDS
    /// message.
    pub(crate) fn canonical(mut self) -> Result<Self, ValidationError> {
        let mut err = ValidationError::default();
        let sections = [
            ("logging", &mut self.logging, LOGGING),
            ("metrics", &mut self.metrics, METRICS),
            ("tracing", &mut self.tracing, TRACING),
            ("networking", &mut self.networking, NETWORKING),
            ("routing", &mut self.routing, ROUTING),
            ("constraints", &mut self.constraints, CONSTRAINTS),
        ];
        for (name, section, fields) in sections {
            if let Some(object) = section.as_ref() {
                *section = Some(protojson::message(object, fields, &Path::root(name), &mut err));
            }
        }
        if let Some(mtls) = &mut self.mtls {
            for (i, backend) in mtls.backends.iter_mut().enumerate() {
                let path = Path::root("mtls").field("backends").index(i);
                backend.conf = backend.conf.as_ref().map(protojson::struct_canonical);
                if let Some(root_chain) = &backend.root_chain {
                    let at = path.field("rootChain");
                    backend.root_chain =
                        Some(protojson::message(root_chain, ROOT_CHAIN, &at, &mut err));
                }
                let Some(dp_cert) = backend.dp_cert.as_mut() else { continue };
                if let Some(timeout) = dp_cert.request_timeout.take() {
                    let at = path.field("dpCert").field("requestTimeout");
                    let value = Value::String(timeout);
                    let canonical = protojson::canonical(&value, &Shape::Duration, &at, &mut err);
                    dp_cert.request_timeout = canonical.and_then(|v| v.as_str().map(str::to_owned));
                }
            }
        }
        err.into_result().map(|()| self)
    }
}

impl DpCert {
    /// The configured certificate lifetime, if it is set and valid.
    pub fn expiration(&self) -> Option<KumaDuration> {
        KumaDuration::parse(&self.rotation.as_ref()?.expiration).ok()
    }
}
