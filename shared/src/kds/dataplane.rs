//! `Dataplane` spec ↔ `kuma.mesh.v1alpha1.Dataplane`.
//!
//! The typed parts of our spec map field by field. The free-JSON parts (`metrics`, `probes`,
//! `transparentProxying`, an inbound's `serviceProbe`, an outbound's `backendRef`) map as protojson
//! would. Not carried, because Kuma's message has no field for them: `networking.advertisedPort`.
//! Proto3 has no presence for scalars, so an empty string, a zero port and the `Ready` state read
//! back as unset.

use kuma_core::resources::{
    Admin, DataplaneSpec, Gateway, GatewayType, Health, Inbound, Networking, Outbound,
};
use proto::kuma::mesh::v1alpha1 as pb;
use proto::kuma::mesh::v1alpha1::dataplane::networking::{
    self as net, gateway, inbound, outbound, transparent_proxying as tp,
};
use proto::kuma::mesh::v1alpha1::dataplane::{Networking as PbNetworking, Probes, probes};
use serde_json::{Map, Value};

use super::Error;
use super::json::{Reader, Writer};
use super::mesh::{metrics_backend, metrics_backend_json};

/// The spec as its wire message.
pub(super) fn to_pb(spec: &DataplaneSpec) -> pb::Dataplane {
    pb::Dataplane {
        networking: spec.networking.as_ref().map(networking_to_proto),
        metrics: spec.metrics.as_ref().map(|m| metrics_backend(&Reader(m))),
        probes: spec.probes.as_ref().map(|p| {
            let r = Reader(p);
            let endpoint = |e: Reader<'_>| probes::Endpoint {
                inbound_port: e.u32("inboundPort"),
                inbound_path: e.string("inboundPath"),
                path: e.string("path"),
            };
            Probes {
                port: r.u32("port"),
                endpoints: r.objects("endpoints").map(endpoint).collect(),
            }
        }),
    }
}

/// The spec a wire message carries.
pub(super) fn from_pb(dp: pb::Dataplane) -> Result<DataplaneSpec, Error> {
    Ok(DataplaneSpec {
        networking: dp.networking.map(networking_from_proto).transpose()?,
        metrics: dp.metrics.map(metrics_backend_json),
        probes: dp.probes.map(|p| {
            let endpoint = |e: probes::Endpoint| {
                Writer::default()
                    .u32("inboundPort", e.inbound_port)
                    .string("inboundPath", e.inbound_path)
                    .string("path", e.path)
                    .value()
            };
            Writer::default()
                .u32("port", p.port)
                .list("endpoints", p.endpoints.into_iter().map(endpoint).collect())
                .done()
        }),
    })
}

fn networking_to_proto(n: &Networking) -> PbNetworking {
    PbNetworking {
        inbound: n.inbound.iter().map(inbound_to_proto).collect(),
        outbound: n.outbound.iter().map(outbound_to_proto).collect(),
        gateway: n.gateway.as_ref().map(|g| net::Gateway {
            tags: g.tags.clone(),
            r#type: match g.kind {
                GatewayType::Delegated => gateway::GatewayType::Delegated,
                GatewayType::Builtin => gateway::GatewayType::Builtin,
            }
            .into(),
        }),
        transparent_proxying: n
            .transparent_proxying
            .as_ref()
            .map(|t| transparent_proxying_to_proto(&Reader(t))),
        address: n.address.clone(),
        advertised_address: n.advertised_address.clone().unwrap_or_default(),
        admin: n.admin.as_ref().map(|a| pb::EnvoyAdmin { port: a.port }),
    }
}

fn networking_from_proto(n: PbNetworking) -> Result<Networking, Error> {
    let gateway = match n.gateway {
        None => None,
        Some(g) => Some(Gateway {
            tags: g.tags,
            kind: match gateway::GatewayType::try_from(g.r#type) {
                Ok(gateway::GatewayType::Delegated) => GatewayType::Delegated,
                Ok(gateway::GatewayType::Builtin) => GatewayType::Builtin,
                Err(_) => return Err(Error::unsupported("networking.gateway.type", g.r#type)),
            },
        }),
    };
    let inbound = n.inbound.into_iter().enumerate().map(inbound_from_proto);
    Ok(Networking {
        address: n.address,
        advertised_address: non_empty(n.advertised_address),
        advertised_port: None,
        inbound: inbound.collect::<Result<_, _>>()?,
        outbound: n.outbound.into_iter().map(outbound_from_proto).collect(),
        gateway,
        admin: n.admin.map(|a| Admin { port: a.port }),
        transparent_proxying: n.transparent_proxying.map(transparent_proxying_json),
    })
}

fn inbound_to_proto(i: &Inbound) -> net::Inbound {
    let state = i.state.as_deref().and_then(inbound::State::from_str_name);
    net::Inbound {
        tags: i.tags.clone(),
        port: i.port,
        service_port: i.service_port.unwrap_or_default(),
        address: i.address.clone().unwrap_or_default(),
        service_address: i.service_address.clone().unwrap_or_default(),
        health: i.health.as_ref().map(|h| inbound::Health { ready: h.ready }),
        service_probe: i.service_probe.as_ref().map(|p| {
            let r = Reader(p);
            inbound::ServiceProbe {
                interval: r.duration("interval"),
                timeout: r.duration("timeout"),
                unhealthy_threshold: r.opt_u32("unhealthyThreshold"),
                healthy_threshold: r.opt_u32("healthyThreshold"),
                tcp: r.object("tcp").map(|_| inbound::service_probe::Tcp {}),
            }
        }),
        state: state.unwrap_or(inbound::State::Ready).into(),
        name: i.name.clone().unwrap_or_default(),
    }
}

fn inbound_from_proto((index, i): (usize, net::Inbound)) -> Result<Inbound, Error> {
    let state = match inbound::State::try_from(i.state) {
        Ok(inbound::State::Ready) => None,
        Ok(state) => Some(state.as_str_name().to_owned()),
        Err(_) => {
            let field = format!("networking.inbound[{index}].state");
            return Err(Error::unsupported(field, i.state));
        }
    };
    Ok(Inbound {
        port: i.port,
        service_port: (i.service_port != 0).then_some(i.service_port),
        service_address: non_empty(i.service_address),
        address: non_empty(i.address),
        tags: i.tags,
        health: i.health.map(|h| Health { ready: h.ready }),
        name: non_empty(i.name),
        service_probe: i.service_probe.map(|p| {
            let tcp = p.tcp.map(|_| Value::Object(Map::new()));
            Writer::default()
                .duration("interval", p.interval)
                .duration("timeout", p.timeout)
                .opt("unhealthyThreshold", p.unhealthy_threshold.map(Value::from))
                .opt("healthyThreshold", p.healthy_threshold.map(Value::from))
                .opt("tcp", tcp)
                .done()
        }),
        state,
    })
}

fn outbound_to_proto(o: &Outbound) -> net::Outbound {
    net::Outbound {
        address: o.address.clone().unwrap_or_default(),
        port: o.port,
        tags: o.tags.clone(),
        backend_ref: o.backend_ref.as_ref().map(|b| {
            let r = Reader(b);
            outbound::BackendRef {
                kind: r.string("kind"),
                name: r.string("name"),
                port: r.u32("port"),
                labels: r.tags("labels"),
            }
        }),
    }
}

fn outbound_from_proto(o: net::Outbound) -> Outbound {
    Outbound {
        port: o.port,
        address: non_empty(o.address),
        tags: o.tags,
        backend_ref: o.backend_ref.map(|b| {
            Writer::default()
                .string("kind", b.kind)
                .string("name", b.name)
                .u32("port", b.port)
                .tags("labels", b.labels)
                .done()
        }),
    }
}

fn transparent_proxying_to_proto(r: &Reader<'_>) -> net::TransparentProxying {
    let mode = r.string("ipFamilyMode");
    let reference = |b: Reader<'_>| tp::ReachableBackendRef {
        kind: b.string("kind"),
        name: b.string("name"),
        namespace: b.string("namespace"),
        port: b.opt_u32("port"),
        labels: b.tags("labels"),
    };
    net::TransparentProxying {
        redirect_port_inbound: r.u32("redirectPortInbound"),
        redirect_port_outbound: r.u32("redirectPortOutbound"),
        direct_access_services: r.strings("directAccessServices"),
        reachable_services: r.strings("reachableServices"),
        ip_family_mode: tp::IpFamilyMode::from_str_name(&mode).unwrap_or_default().into(),
        reachable_backends: r.object("reachableBackends").map(|b| tp::ReachableBackends {
            refs: Reader(b).objects("refs").map(reference).collect(),
        }),
    }
}

fn transparent_proxying_json(t: net::TransparentProxying) -> Map<String, Value> {
    let strings = |list: Vec<String>| list.into_iter().map(Value::String).collect();
    // protojson writes an enum number it does not know as the number.
    let mode = match tp::IpFamilyMode::try_from(t.ip_family_mode) {
        Ok(tp::IpFamilyMode::UnSpecified) => None,
        Ok(mode) => Some(Value::from(mode.as_str_name())),
        Err(_) => Some(Value::from(t.ip_family_mode)),
    };
    let reference = |b: tp::ReachableBackendRef| {
        Writer::default()
            .string("kind", b.kind)
            .string("name", b.name)
            .string("namespace", b.namespace)
            .opt("port", b.port.map(Value::from))
            .tags("labels", b.labels)
            .value()
    };
    let backends = t.reachable_backends.map(|b| {
        let refs = b.refs.into_iter().map(reference).collect();
        Writer::default().list("refs", refs).value()
    });
    Writer::default()
        .u32("redirectPortInbound", t.redirect_port_inbound)
        .u32("redirectPortOutbound", t.redirect_port_outbound)
        .list("directAccessServices", strings(t.direct_access_services))
        .list("reachableServices", strings(t.reachable_services))
        .opt("ipFamilyMode", mode)
        .opt("reachableBackends", backends)
        .done()
}

pub(super) fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests;
