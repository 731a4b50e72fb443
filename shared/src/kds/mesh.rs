//! `Mesh` spec ↔ `kuma.mesh.v1alpha1.Mesh`.
//!
//! `mtls` is typed on both sides. The other sections (`tracing`, `logging`, `metrics`,
//! `networking`, `routing`, `constraints`) are free JSON in our spec and typed messages on the
//! wire, so they are mapped field by field as protojson would; JSON keys the messages have no
//! field for are not sent (Kuma rejects them at apply time anyway). Backend `conf` objects travel
//! as `google.protobuf.Struct`; durations as `google.protobuf.Duration`.

use std::collections::BTreeMap;

use kuma_core::resources::{CaBackend, CaType, DpCert, MeshSpec, Mode, Mtls, Rotation};
use proto::kuma::mesh::v1alpha1 as pb;
use proto::kuma::mesh::v1alpha1::certificate_authority_backend as ca;
use proto::kuma::mesh::v1alpha1::mesh::dataplane_proxy_constraints as proxy_rules;
use proto::kuma::mesh::v1alpha1::mesh::{Constraints, DataplaneProxyConstraints, Mtls as PbMtls};
use serde_json::{Map, Value};

use super::Error;
use super::json::{
    Reader, Writer, format_duration, from_struct, number, parse_duration, to_struct,
};

/// The spec as its wire message.
pub(super) fn to_pb(spec: &MeshSpec) -> pb::Mesh {
    fn section(s: &Option<Map<String, Value>>) -> Option<Reader<'_>> {
        s.as_ref().map(Reader)
    }
    pb::Mesh {
        mtls: spec.mtls.as_ref().map(mtls_to_proto),
        tracing: section(&spec.tracing).map(|r| pb::Tracing {
            default_backend: r.string("defaultBackend"),
            backends: r.objects("backends").map(tracing_backend).collect(),
        }),
        logging: section(&spec.logging).map(|r| pb::Logging {
            default_backend: r.string("defaultBackend"),
            backends: r.objects("backends").map(logging_backend).collect(),
        }),
        metrics: section(&spec.metrics).map(|r| pb::Metrics {
            enabled_backend: r.string("enabledBackend"),
            backends: r.objects("backends").map(|b| metrics_backend(&b)).collect(),
        }),
        networking: section(&spec.networking).map(|r| pb::Networking {
            outbound: r.object("outbound").map(|o| pb::networking::Outbound {
                passthrough: Reader(o).opt_bool("passthrough"),
            }),
        }),
        routing: section(&spec.routing).map(|r| pb::Routing {
            locality_aware_load_balancing: r.bool("localityAwareLoadBalancing"),
            zone_egress: r.bool("zoneEgress"),
            default_forbid_mesh_external_service_access: r
                .bool("defaultForbidMeshExternalServiceAccess"),
        }),
        constraints: section(&spec.constraints).map(|r| Constraints {
            dataplane_proxy: r.object("dataplaneProxy").map(|d| {
                let rules = |name| {
                    let rule = |r: Reader<'_>| proxy_rule(r.tags("tags"));
                    Reader(d).objects(name).map(rule).collect()
                };
                DataplaneProxyConstraints {
                    requirements: rules("requirements"),
                    restrictions: rules("restrictions"),
                }
            }),
        }),
    }
}

/// The spec a wire message carries.
pub(super) fn from_pb(mesh: pb::Mesh) -> Result<MeshSpec, Error> {
    Ok(MeshSpec {
        mtls: mesh.mtls.map(mtls_from_proto).transpose()?,
        tracing: mesh.tracing.map(|t| {
            let backend = |b: pb::TracingBackend| {
                Writer::default()
                    .string("name", b.name)
                    .opt("sampling", b.sampling.map(number))
                    .string("type", b.r#type)
                    .opt("conf", b.conf.map(|c| Value::Object(from_struct(c))))
                    .value()
            };
            Writer::default()
                .string("defaultBackend", t.default_backend)
                .list("backends", t.backends.into_iter().map(backend).collect())
                .done()
        }),
        logging: mesh.logging.map(|l| {
            let backend = |b: pb::LoggingBackend| {
                Writer::default()
                    .string("name", b.name)
                    .string("format", b.format)
                    .string("type", b.r#type)
                    .opt("conf", b.conf.map(|c| Value::Object(from_struct(c))))
                    .value()
            };
            Writer::default()
                .string("defaultBackend", l.default_backend)
                .list("backends", l.backends.into_iter().map(backend).collect())
                .done()
        }),
        metrics: mesh.metrics.map(|m| {
            let backends = m.backends.into_iter().map(metrics_backend_json);
            Writer::default()
                .string("enabledBackend", m.enabled_backend)
                .list("backends", backends.map(Value::Object).collect())
                .done()
        }),
        networking: mesh.networking.map(|n| {
            let outbound = n.outbound.map(|o| {
                let passthrough = o.passthrough.map(Value::Bool);
                Writer::default().opt("passthrough", passthrough).value()
            });
            Writer::default().opt("outbound", outbound).done()
        }),
        routing: mesh.routing.map(|r| {
            Writer::default()
                .bool("localityAwareLoadBalancing", r.locality_aware_load_balancing)
                .bool("zoneEgress", r.zone_egress)
                .bool(
                    "defaultForbidMeshExternalServiceAccess",
                    r.default_forbid_mesh_external_service_access,
                )
                .done()
        }),
        constraints: mesh.constraints.map(|c| {
            let proxy = c.dataplane_proxy.map(|d| {
                let rules = |list: Vec<_>| {
                    let rule = |r: proxy_rules::Rules| Writer::default().tags("tags", r.tags);
                    list.into_iter().map(|r| rule(r).value()).collect()
                };
                Writer::default()
                    .list("requirements", rules(d.requirements))
                    .list("restrictions", rules(d.restrictions))
                    .value()
            });
            Writer::default().opt("dataplaneProxy", proxy).done()
        }),
    })
}

fn proxy_rule(tags: BTreeMap<String, String>) -> proxy_rules::Rules {
    proxy_rules::Rules { tags }
}

fn tracing_backend(b: Reader<'_>) -> pb::TracingBackend {
    pb::TracingBackend {
        name: b.string("name"),
        sampling: b.opt_f64("sampling"),
        r#type: b.string("type"),
        conf: b.object("conf").map(to_struct),
    }
}

fn logging_backend(b: Reader<'_>) -> pb::LoggingBackend {
    pb::LoggingBackend {
        name: b.string("name"),
        format: b.string("format"),
        r#type: b.string("type"),
        conf: b.object("conf").map(to_struct),
    }
}

/// A `MetricsBackend` JSON object (a mesh's metrics backend or a dataplane's override).
pub(super) fn metrics_backend(b: &Reader<'_>) -> pb::MetricsBackend {
    pb::MetricsBackend {
        name: b.string("name"),
        r#type: b.string("type"),
        conf: b.object("conf").map(to_struct),
    }
}

/// The inverse of [`metrics_backend`].
pub(super) fn metrics_backend_json(b: pb::MetricsBackend) -> Map<String, Value> {
    Writer::default()
        .string("name", b.name)
        .string("type", b.r#type)
        .opt("conf", b.conf.map(|c| Value::Object(from_struct(c))))
        .done()
}

fn mtls_to_proto(mtls: &Mtls) -> PbMtls {
    let backend = |b: &CaBackend| pb::CertificateAuthorityBackend {
        name: b.name.clone(),
        r#type: match b.kind {
            CaType::Builtin => "builtin",
            CaType::Provided => "provided",
        }
        .to_owned(),
        dp_cert: b.dp_cert.as_ref().map(|d| ca::DpCert {
            rotation: d
                .rotation
                .as_ref()
                .map(|r| ca::dp_cert::Rotation { expiration: r.expiration.clone() }),
            // Our spec keeps the text unchecked; one that is not a protobuf duration is not sent.
            request_timeout: d.request_timeout.as_deref().and_then(parse_duration),
        }),
        conf: b.conf.as_ref().map(to_struct),
        mode: match b.mode {
            Mode::Strict => ca::Mode::Strict,
            Mode::Permissive => ca::Mode::Permissive,
        }
        .into(),
        root_chain: b
            .root_chain
            .as_ref()
            .map(|r| ca::RootChain { request_timeout: Reader(r).duration("requestTimeout") }),
    };
    PbMtls {
        enabled_backend: mtls.enabled_backend.clone(),
        backends: mtls.backends.iter().map(backend).collect(),
        skip_validation: mtls.skip_validation,
    }
}

fn mtls_from_proto(mtls: PbMtls) -> Result<Mtls, Error> {
    let backend = |(i, b): (usize, pb::CertificateAuthorityBackend)| {
        let kind = match b.r#type.as_str() {
            "builtin" => CaType::Builtin,
            "provided" => CaType::Provided,
            other => {
                return Err(Error::unsupported(format!("mtls.backends[{i}].type"), other));
            }
        };
        let mode = match ca::Mode::try_from(b.mode) {
            Ok(ca::Mode::Strict) => Mode::Strict,
            Ok(ca::Mode::Permissive) => Mode::Permissive,
            Err(_) => {
                return Err(Error::unsupported(format!("mtls.backends[{i}].mode"), b.mode));
            }
        };
        Ok(CaBackend {
            name: b.name,
            kind,
            mode,
            dp_cert: b.dp_cert.map(|d| DpCert {
                rotation: d.rotation.map(|r| Rotation { expiration: r.expiration }),
                request_timeout: d.request_timeout.as_ref().map(format_duration),
            }),
            conf: b.conf.map(from_struct),
            root_chain: b
                .root_chain
                .map(|r| Writer::default().duration("requestTimeout", r.request_timeout).done()),
        })
    };
    Ok(Mtls {
        enabled_backend: mtls.enabled_backend,
        backends: mtls.backends.into_iter().enumerate().map(backend).collect::<Result<_, _>>()?,
        skip_validation: mtls.skip_validation,
    })
}

#[cfg(test)]
mod tests;
