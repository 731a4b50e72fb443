//! The `ZoneIngress` spec: the proxy that lets other zones reach this zone's services. It lives
//! beside the meshes (one ingress serves every mesh), is registered by `kuma-dp --proxy-type
//! ingress`, flows up to the global and from there to the other zones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::dataplane::{Admin, validate_address};
use super::validation::{Path, SERVICE_TAG, TagValues, ValidationError, check_port, check_tags};

/// `ZoneIngress` spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZoneIngressSpec {
    /// The zone the ingress belongs to. The zone control plane sets it to its own name when the
    /// proxy registers, and the global pins it to the zone that sent it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub zone: String,
    /// Where the ingress listens and where other zones reach it; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<IngressNetworking>,
    /// The services reachable through this ingress (filled in by the control plane).
    #[serde(default, alias = "available_services", skip_serializing_if = "Vec::is_empty")]
    pub available_services: Vec<AvailableService>,
}

/// `networking` of a ZoneIngress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressNetworking {
    /// Address the proxy listens on, in its own zone.
    #[serde(default)]
    pub address: String,
    /// Address other zones connect to (behind NAT or a load balancer).
    #[serde(default, alias = "advertised_address", skip_serializing_if = "Option::is_none")]
    pub advertised_address: Option<String>,
    /// Port the proxy listens on.
    #[serde(default)]
    pub port: u32,
    /// Port other zones connect to.
    #[serde(default, alias = "advertised_port", skip_serializing_if = "Option::is_none")]
    pub advertised_port: Option<u32>,
    /// Envoy admin listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<Admin>,
}

/// One service reachable through the ingress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AvailableService {
    /// The service's tags; `kuma.io/service` is required.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// How many instances serve it.
    #[serde(default)]
    pub instances: u32,
    /// The mesh it belongs to.
    #[serde(default)]
    pub mesh: String,
    /// Whether it is an ExternalService.
    #[serde(default, alias = "external_service")]
    pub external_service: bool,
}

impl ZoneIngressSpec {
    /// Kuma's ZoneIngress checks: a networking section with a valid address and port, the
    /// advertised address and port set together, and tagged available services.
    pub(crate) fn validate(&self) -> ValidationError {
        let mut err = ValidationError::default();
        let path = Path::root("networking");
        let Some(net) = &self.networking else {
            err.at(&path, "must be defined");
            return err;
        };
        validate_address(&path.field("address"), &net.address, &mut err);
        check_port(&path.field("port"), net.port, &mut err);
        match (&net.advertised_address, net.advertised_port) {
            (Some(address), Some(port)) => {
                validate_address(&path.field("advertisedAddress"), address, &mut err);
                check_port(&path.field("advertisedPort"), port, &mut err);
            }
            (Some(_), None) => {
                err.at(&path.field("advertisedPort"), "has to be defined with advertisedAddress")
            }
            (None, Some(_)) => {
                err.at(&path.field("advertisedAddress"), "has to be defined with advertisedPort")
            }
            (None, None) => {}
        }
        if let Some(admin) = &net.admin {
            check_port(&path.field("admin").field("port"), admin.port, &mut err);
        }
        for (i, service) in self.available_services.iter().enumerate() {
            let at = Path::root("availableServices").index(i).field("tags");
            check_tags(&at, &service.tags, TagValues::Tag, &mut err);
            if !service.tags.contains_key(SERVICE_TAG) {
                err.at(&at.key(SERVICE_TAG), "tag has to exist");
            }
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::resources::{ResourceType, Spec};

    fn errors(value: serde_json::Value) -> Vec<String> {
        match Spec::from_value(ResourceType::ZoneIngress, value) {
            Ok(_) => Vec::new(),
            Err(err) => err.violations.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn a_complete_ingress_is_valid_and_round_trips() {
        let value = json!({
            "zone": "east",
            "networking": {
                "address": "10.0.0.5", "port": 10001,
                "advertisedAddress": "203.0.113.7", "advertisedPort": 443,
                "admin": {"port": 9901}
            },
            "availableServices": [
                {"tags": {"kuma.io/service": "web"}, "instances": 2, "mesh": "default"}
            ]
        });
        let spec = Spec::from_value(ResourceType::ZoneIngress, value.clone()).expect("valid");
        let mut expected = value;
        expected["availableServices"][0]["externalService"] = json!(false);
        assert_eq!(spec.to_value(), expected);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(errors(json!({})), ["networking: must be defined"]);
        assert_eq!(
            errors(json!({"networking": {"address": "", "port": 0}})),
            [
                "networking.address: address can't be empty",
                "networking.port: port must be in the range [1, 65535]"
            ]
        );
        assert_eq!(
            errors(
                json!({"networking": {"address": "10.0.0.1", "port": 1, "advertisedAddress": "1.2.3.4"}})
            ),
            ["networking.advertisedPort: has to be defined with advertisedAddress"]
        );
        assert_eq!(
            errors(json!({"networking": {"address": "10.0.0.1", "port": 1, "advertisedPort": 5}})),
            ["networking.advertisedAddress: has to be defined with advertisedPort"]
        );
        assert_eq!(
            errors(json!({"networking": {"address": "10.0.0.1", "port": 1},
                "availableServices": [{"tags": {"version": "1"}}]})),
            ["availableServices[0].tags[\"kuma.io/service\"]: tag has to exist"]
        );
        assert_eq!(
            errors(json!({"networking": {"address": "10.0.0.1", "port": 1, "bogus": 1}})),
            [
                "networking.bogus: unknown field `bogus`, expected one of `address`, `advertisedAddress`, \
              `advertised_address`, `port`, `advertisedPort`, `advertised_port`, `admin`"
            ]
        );
    }
}
