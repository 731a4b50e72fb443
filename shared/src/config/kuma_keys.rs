//! The Kuma 2.14 settings we accept but do not implement, so that Kuma's own `kuma-cp.yaml` (and
//! its `KUMA_*` variables) load here: `Loader::finish` returns them for one warning instead of
//! failing, while any other unknown key still fails.
//!
//! The table follows the structure of Kuma's `kuma-cp.defaults.yaml`: whole sections we have no
//! counterpart for are listed as prefixes, and in sections we do implement only the keys we lack
//! are listed. It must not list a key some setting here reads: those are matched first anyway, and
//! listing them would hide that they are implemented.

/// YAML paths of Kuma settings we ignore. An entry ending in `.` covers the whole subtree.
const KUMA_KEYS: &[&str] = &[
    // Whole sections without a counterpart here.
    "bootstrapServer.",
    "coreResources.",
    // `defaults.skipMeshCreation` is read; the rest of the section is not implemented.
    "defaults.",
    "dnsServer.",
    "eventBus.",
    "experimental.",
    "guiServer.",
    "interCp.",
    "ipam.",
    "meshService.",
    "metrics.",
    "policies.",
    "proxy.",
    "reports.",
    "runtime.",
    "tracing.",
    "xdsServer.",
    // store.*
    "store.kubernetes.",
    "store.cache.",
    "store.upsert.",
    "store.unsafeDelete",
    "store.postgres.driverName",
    "store.postgres.maxConnectionLifetimeJitter",
    "store.postgres.healthCheckInterval",
    "store.postgres.maxIdleConnections",
    "store.postgres.maxListQueryElements",
    "store.postgres.tolerateNewerDbVersions",
    "store.postgres.readReplica.",
    // apiServer.*
    "apiServer.auth.clientCertsDir",
    "apiServer.rootUrl",
    "apiServer.basePath",
    "apiServer.gui.",
    // monitoringAssignmentServer.*
    "monitoringAssignmentServer.assignmentRefreshInterval",
    // diagnostics.*
    "diagnostics.debugEndpoints",
    // dpServer.*
    "dpServer.gracefulShutdownTimeout",
    "dpServer.authn.enableReloadableTokens",
    "dpServer.hds.",
    // multizone.*
    "multizone.global.kds.zoneInsightFlushInterval",
    "multizone.global.kds.msgSendTimeout",
    "multizone.global.kds.responseBackoff",
    "multizone.global.kds.logPayloads",
    "multizone.global.kds.tracing.",
    "multizone.global.kds.labels.",
    "multizone.global.kds.zoneHealthCheck.closeStaleConn",
    "multizone.zone.kds.msgSendTimeout",
    "multizone.zone.kds.nackBackoff",
    "multizone.zone.kds.responseBackoff",
    "multizone.zone.kds.logPayloads",
    "multizone.zone.kds.labels.",
    "multizone.zone.disableOriginLabelValidation",
    "multizone.zone.ingressUpdateInterval",
    // access.*
    "access.static.viewConfigDump.",
    "access.static.viewStats.",
    "access.static.viewClusters.",
    "access.static.controlPlaneMetadata.",
];

/// Kuma variables whose names do not follow from a path above (Kuma's `envconfig` tags differ
/// from the YAML there). An entry ending in `_` is a prefix.
const IRREGULAR_ENV: &[&str] = &[
    "KUMA_ACCESS_STATIC_GET_CONFIG_DUMP_",
    "KUMA_DNS_SERVICE_SERVICE_VIP_PORT",
    "KUMA_GENERAL_CERT_GENERATION_",
    "KUMA_INJECTOR_",
    "KUMA_PLUGIN_POLICIES_ENABLED",
    "KUMA_XDS_DATAPLANE_DEREGISTRATION_DELAY",
];

/// Whether the dotted file key `key` is a Kuma setting we ignore.
pub(super) fn is_kuma_key(key: &str) -> bool {
    KUMA_KEYS.iter().any(|entry| match entry.strip_suffix('.') {
        Some(section) => key.strip_prefix(section).is_some_and(|rest| rest.starts_with('.')),
        None => key == *entry,
    })
}

/// Whether the variable `name` sets a Kuma setting we ignore.
pub(super) fn is_kuma_env(name: &str) -> bool {
    let irregular = IRREGULAR_ENV.iter().any(|entry| match entry.ends_with('_') {
        true => name.starts_with(entry) && name.len() > entry.len(),
        false => name == *entry,
    });
    irregular || KUMA_KEYS.iter().any(|key| env_names_key(name, key))
}

/// Whether `name` is the variable Kuma derives from the YAML path `key` (or, for a key ending in
/// `.`, a variable under that section): `KUMA_` and the path's words in SCREAMING_SNAKE.
///
/// Words are compared with the underscores and dots dropped, so that acronyms (`dnsCacheTTL`,
/// `excludeInboundIPs`) need no splitting rules; a section still has to end at an underscore.
pub(super) fn env_names_key(name: &str, key: &str) -> bool {
    let Some(rest) = name.strip_prefix("KUMA_") else {
        return false;
    };
    let (path, section) = match key.strip_suffix('.') {
        Some(path) => (path, true),
        None => (key, false),
    };
    let mut wanted = path.chars().filter(|c| *c != '.').map(|c| c.to_ascii_lowercase());
    let mut chars = rest.char_indices().filter(|(_, c)| *c != '_');
    let mut end = 0;
    for want in wanted.by_ref() {
        match chars.next() {
            Some((i, c)) if c.is_ascii_uppercase() || c.is_ascii_digit() => {
                if c.to_ascii_lowercase() != want {
                    return false;
                }
                end = i + 1;
            }
            _ => return false,
        }
    }
    let tail = &rest[end..];
    match section {
        true => tail.len() > 1 && tail.starts_with('_'),
        false => tail.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_exact_keys_match() {
        assert!(is_kuma_key("runtime.kubernetes.injector.cniEnabled"));
        assert!(is_kuma_key("store.postgres.readReplica.host"));
        assert!(is_kuma_key("multizone.zone.ingressUpdateInterval"));
        assert!(!is_kuma_key("runtime"), "a section alone is not a setting");
        assert!(!is_kuma_key("runtimeX.a"));
        assert!(!is_kuma_key("store.unsafeDeleteX"));
        assert!(!is_kuma_key("apiServer.http.prot"));
    }

    #[test]
    fn env_names_follow_the_yaml_path() {
        assert!(env_names_key("KUMA_DP_SERVER_HDS_ENABLED", "dpServer.hds."));
        assert!(env_names_key(
            "KUMA_RUNTIME_KUBERNETES_SIDECAR_TRAFFIC_EXCLUDE_INBOUND_IPS",
            "runtime."
        ));
        assert!(env_names_key("KUMA_STORE_UNSAFE_DELETE", "store.unsafeDelete"));
        assert!(env_names_key(
            "KUMA_STORE_POSTGRES_TLS_DISABLE_SSLSNI",
            "store.postgres.tls.disableSSLSNI"
        ));
        assert!(!env_names_key("KUMA_STORE_UNSAFE_DELETES", "store.unsafeDelete"));
        assert!(!env_names_key("KUMA_DP_SERVER_HDSX_ENABLED", "dpServer.hds."));
        assert!(!env_names_key("KUMA_DP_SERVER_HDS", "dpServer.hds."));
        assert!(!env_names_key("DP_SERVER_HDS_ENABLED", "dpServer.hds."));
        assert!(!env_names_key("KUMA_dp_server_hds_enabled", "dpServer.hds."));
    }

    #[test]
    fn kuma_variables_are_recognised() {
        for name in [
            "KUMA_REPORTS_ENABLED",
            "KUMA_XDS_SERVER_NACK_BACKOFF",
            "KUMA_EXPERIMENTAL_DELTA_XDS",
            "KUMA_INTER_CP_SERVER_PORT",
            "KUMA_INJECTOR_INIT_CONTAINER_IMAGE",
            "KUMA_XDS_DATAPLANE_DEREGISTRATION_DELAY",
            "KUMA_MULTIZONE_ZONE_KDS_NACK_BACKOFF",
        ] {
            assert!(is_kuma_env(name), "{name}");
        }
        for name in ["KUMA_API_SERVER_HTTP_PROT", "KUMA_INJECTOR_", "HOME", "KUMA_"] {
            assert!(!is_kuma_env(name), "{name}");
        }
    }
}
