//! The fallible steps of [`Runtime::build`](super::Runtime::build) before any listener: the
//! role, the work dir, the control plane certificate, credentials and the cluster id. Each fails
//! naming what it could not do; nothing here binds a port.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use kuma_core::tls::{self, Provenance};
use kuma_core::tokens::{PublicKey, StaticKey};
use serde_json::json;
use store::{self, Key, Store};
use time::OffsetDateTime;

use super::{Addresses, BASED_ON_KUMA, Error};
use crate::api::{Index, Role};
use crate::config::{CpConfig, Mode, StaticPublicKey};
use crate::credentials::{self, Credentials, UseSecrets};
use crate::net::ServerCert;

/// Where Kuma keeps the deployment's cluster id: a `Config` record of this name.
const CLUSTER_ID_KEY: &str = "kuma-cluster-id";

pub(super) fn role(config: &CpConfig) -> Role {
    match config.mode {
        Mode::Global => Role::Global,
        Mode::Zone if config.is_federated_zone() => Role::FederatedZone,
        Mode::Zone => Role::Zone,
    }
}

/// Token settings from the configuration; static public keys are parsed here, before anything
/// is served.
pub(super) fn credential_settings(
    config: &CpConfig,
    role: Role,
) -> Result<credentials::Settings, Error> {
    let parse = |setting: &'static str, keys: &[StaticPublicKey]| {
        keys.iter()
            .map(|k| {
                let key = PublicKey::from_pem(k.pem.as_bytes()).map_err(|source| {
                    Error::StaticKey { setting, kid: k.kid.clone(), source: Box::new(source) }
                })?;
                Ok(StaticKey { kid: k.kid.clone(), mesh: k.mesh.clone(), key })
            })
            .collect::<Result<Vec<_>, Error>>()
    };
    let user = &config.api_server.authn.tokens;
    let dp = &config.dp_server.dp_token;
    let zone = &config.dp_server.zone_token;
    Ok(credentials::Settings {
        federated_zone: role == Role::FederatedZone,
        user_static_keys: parse("apiServer.authn.tokens.validator.publicKeys", &user.public_keys)?,
        dataplane_static_keys: parse(
            "dpServer.authn.dpProxy.dpToken.validator.publicKeys",
            &dp.public_keys,
        )?,
        zone_static_keys: parse(
            "dpServer.authn.zoneProxy.zoneToken.validator.publicKeys",
            &zone.public_keys,
        )?,
        use_secrets: UseSecrets {
            user: user.use_secrets,
            dataplane: dp.use_secrets,
            zone: zone.use_secrets,
        },
    })
}

/// Creates missing signing keys and, when asked for, the bootstrap admin token; `true` when the
/// admin token was created now.
pub(super) async fn prepare_credentials(
    config: &CpConfig,
    credentials: &Credentials,
) -> Result<bool, Error> {
    credentials.ensure_control_plane_keys().await.map_err(|e| Error::Credentials(Box::new(e)))?;
    if !config.api_server.authn.tokens.bootstrap_admin_token {
        return Ok(false);
    }
    let now = OffsetDateTime::now_utc();
    credentials.ensure_admin_token(now).await.map_err(|e| Error::Credentials(Box::new(e)))
}

/// How to read the admin token from this host, with the API's real address: over HTTP when it
/// is served, else over HTTPS trusting the CP certificate. A listener on every interface is
/// reached at `localhost` (the localhost rule makes that caller an admin).
pub(super) fn admin_token_hint(addresses: &Addresses, ca: &Path) -> String {
    let host = |addr: SocketAddr| match addr.ip() {
        ip if ip.is_unspecified() || ip.is_loopback() => format!("localhost:{}", addr.port()),
        ip => SocketAddr::new(ip, addr.port()).to_string(),
    };
    let command = match (addresses.http, addresses.https) {
        (Some(http), _) => format!("curl -s http://{}", host(http)),
        (None, Some(https)) => {
            format!("curl -s --cacert {} https://{}", ca.display(), host(https))
        }
        (None, None) => return "no API listener is enabled to read it from".to_owned(),
    };
    format!("{command}/global-secrets/admin-user-token | jq -r .data | base64 -d")
}

pub(super) fn store_name(config: &CpConfig) -> &'static str {
    match config.store {
        store::StoreConfig::Memory => "memory",
        store::StoreConfig::Sqlite { .. } => "sqlite",
        store::StoreConfig::Postgres(_) => "postgres",
    }
}

pub(super) fn ensure_work_dir(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| Error::WorkDir { path: path.to_owned(), source })
}

/// The control plane certificate, watched in its files: the general one when configured, else
/// the one in the work dir (generated on first start).
pub(super) fn cp_cert(config: &CpConfig) -> Result<ServerCert, Error> {
    let (pair, cert, key) = match &config.general.tls_files {
        Some(files) => {
            tracing::info!(cert = %files.cert.display(), "using the configured control plane certificate");
            let pair =
                tls::load_pair(&files.cert, &files.key).map_err(|e| Error::CpCert(Box::new(e)))?;
            (pair, files.cert.clone(), files.key.clone())
        }
        None => {
            let work_dir = &config.general.work_dir;
            let (pair, provenance) =
                tls::load_or_generate_cp_cert(work_dir, OffsetDateTime::now_utc())
                    .map_err(|e| Error::CpCert(Box::new(e)))?;
            let path = work_dir.join(tls::CP_CERT_FILE);
            match provenance {
                Provenance::Generated => tracing::warn!(
                    cert = %path.display(),
                    "generated a self-signed control plane certificate; clients must trust this \
                     file (every instance generates its own: set KUMA_GENERAL_TLS_CERT_FILE for \
                     replicas)"
                ),
                Provenance::Loaded => {
                    tracing::info!(cert = %path.display(), "reusing the control plane certificate")
                }
            }
            (pair, path, work_dir.join(tls::CP_KEY_FILE))
        }
    };
    ServerCert::watched(&pair, cert, key).map_err(Error::CpCertWatch)
}

/// Kuma keeps one cluster id per deployment; the first instance to start creates it.
pub(super) async fn ensure_cluster_id(store: &Store) -> Result<String, store::Error> {
    let key = Key::global("Config", CLUSTER_ID_KEY);
    let read =
        |record: store::Record| record.spec["config"].as_str().unwrap_or_default().to_owned();
    match store.get(&key).await {
        Ok(record) => return Ok(read(record)),
        Err(store::Error::NotFound { .. }) => {}
        Err(err) => return Err(err),
    }
    let id = uuid::Uuid::new_v4().to_string();
    match store.create(key.clone(), json!({ "config": id }), BTreeMap::new()).await {
        Ok(_) => Ok(id),
        // Another instance won the race: use its id.
        Err(store::Error::AlreadyExists { .. }) => store.get(&key).await.map(read),
        Err(err) => Err(err),
    }
}

pub(super) fn index(cluster_id: String) -> Index {
    let hostname = hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..4];
    Index {
        instance_id: format!("{hostname}-{suffix}"),
        hostname,
        tagline: "Kuma".to_owned(),
        product: "Kuma".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        based_on_kuma: BASED_ON_KUMA.to_owned(),
        cluster_id,
        gui: "no GUI is served by this control plane".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(http: Option<&str>, https: Option<&str>) -> Addresses {
        Addresses {
            http: http.map(|a| a.parse().unwrap()),
            https: https.map(|a| a.parse().unwrap()),
            diagnostics: "127.0.0.1:5680".parse().unwrap(),
        }
    }

    #[test]
    fn the_admin_token_hint_uses_the_api_address_it_is_bound_to() {
        let ca = Path::new("/w/kuma-cp.crt");
        let tail = "/global-secrets/admin-user-token | jq -r .data | base64 -d";
        let hint = admin_token_hint(&addresses(Some("0.0.0.0:15681"), None), ca);
        assert_eq!(hint, format!("curl -s http://localhost:15681{tail}"));
        let hint = admin_token_hint(&addresses(Some("10.0.0.5:5681"), None), ca);
        assert_eq!(hint, format!("curl -s http://10.0.0.5:5681{tail}"));
        let hint = admin_token_hint(&addresses(None, Some("127.0.0.1:5682")), ca);
        assert_eq!(hint, format!("curl -s --cacert /w/kuma-cp.crt https://localhost:5682{tail}"));
    }
}
