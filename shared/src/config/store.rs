//! `store.*`: which backend keeps resources (`KUMA_STORE_TYPE`) and how to reach it.
//!
//! Fills `store::StoreConfig`; it never connects. Our default backend is SQLite at
//! `<work_dir>/kuma.db` (Kuma's is `memory`), and `KUMA_STORE_SQLITE_PATH` is our extension.
//! Postgres settings are read whatever the type, but only checked (Kuma's TLS rules, files that
//! must exist) when the type is `postgres`, as Kuma does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ::store::{ClientCert, PostgresConfig, PostgresTls, PostgresTlsMode, StoreConfig};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::error::{Error, PostgresTlsProblem, Problem};
use super::parse::{self, format_duration};
use super::source::{Loader, Setting};

const fn pg(env: &'static str, yaml: &'static str) -> Setting {
    Setting { env, yaml }
}

const TYPE: Setting = pg("KUMA_STORE_TYPE", "store.type");
const SQLITE_PATH: Setting = pg("KUMA_STORE_SQLITE_PATH", "store.sqlite.path");
const HOST: Setting = pg("KUMA_STORE_POSTGRES_HOST", "store.postgres.host");
const PORT: Setting = pg("KUMA_STORE_POSTGRES_PORT", "store.postgres.port");
const USER: Setting = pg("KUMA_STORE_POSTGRES_USER", "store.postgres.user");
const PASSWORD: Setting = pg("KUMA_STORE_POSTGRES_PASSWORD", "store.postgres.password");
const DB_NAME: Setting = pg("KUMA_STORE_POSTGRES_DB_NAME", "store.postgres.dbName");
const CONNECTION_TIMEOUT: Setting =
    pg("KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT", "store.postgres.connectionTimeout");
const MIN_OPEN: Setting =
    pg("KUMA_STORE_POSTGRES_MIN_OPEN_CONNECTIONS", "store.postgres.minOpenConnections");
const MAX_OPEN: Setting =
    pg("KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS", "store.postgres.maxOpenConnections");
const MAX_IDLE_TIME: Setting =
    pg("KUMA_STORE_POSTGRES_MAX_CONNECTION_IDLE_TIME", "store.postgres.maxConnectionIdleTime");
const MAX_LIFETIME: Setting =
    pg("KUMA_STORE_POSTGRES_MAX_CONNECTION_LIFETIME", "store.postgres.maxConnectionLifetime");
const TLS_MODE: Setting = pg("KUMA_STORE_POSTGRES_TLS_MODE", "store.postgres.tls.mode");
const TLS_CERT_PATH: Setting =
    pg("KUMA_STORE_POSTGRES_TLS_CERT_PATH", "store.postgres.tls.certPath");
const TLS_KEY_PATH: Setting = pg("KUMA_STORE_POSTGRES_TLS_KEY_PATH", "store.postgres.tls.keyPath");
const TLS_CA_PATH: Setting = pg("KUMA_STORE_POSTGRES_TLS_CA_PATH", "store.postgres.tls.caPath");
const TLS_DISABLE_SSLSNI: Setting =
    pg("KUMA_STORE_POSTGRES_TLS_DISABLE_SSLSNI", "store.postgres.tls.disableSSLSNI");

const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 15432;
const DEFAULT_USER: &str = "kuma";
const DEFAULT_PASSWORD: &str = "kuma";
const DEFAULT_DB_NAME: &str = "kuma";
const DEFAULT_CONNECTION_TIMEOUT_SECS: u64 = 5;
const DEFAULT_MIN_OPEN: u32 = 0;
const DEFAULT_MAX_OPEN: u32 = 50;
const DEFAULT_MAX_IDLE_TIME: Duration = Duration::from_secs(30 * 60);
const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(60 * 60);
const SQLITE_FILE: &str = "kuma.db";

/// What `store.password` shows as in the effective config.
const REDACTED: &str = "*****";

/// Reads `store.*` into the backend choice.
pub(super) fn load(loader: &Loader<'_>, work_dir: &Path) -> Result<StoreConfig, Error> {
    let kind = loader.or(&TYPE, Kind::Sqlite, Kind::parse)?;
    let sqlite_path = loader.or(&SQLITE_PATH, work_dir.join(SQLITE_FILE), parse::path)?;
    let postgres = postgres(loader, kind == Kind::Postgres)?;
    Ok(match kind {
        Kind::Memory => StoreConfig::Memory,
        Kind::Sqlite => StoreConfig::Sqlite { path: sqlite_path },
        Kind::Postgres => StoreConfig::Postgres(postgres),
    })
}

/// The effective `store` section; the password is never shown.
pub(super) fn to_json(store: &StoreConfig) -> Value {
    match store {
        StoreConfig::Memory => json!({ "type": "memory" }),
        StoreConfig::Sqlite { path } => json!({ "type": "sqlite", "sqlite": { "path": path } }),
        StoreConfig::Postgres(pg) => {
            let (cert, key) =
                pg.tls.client_cert.as_ref().map_or((None, None), |c| {
                    (Some(c.cert_path.clone()), Some(c.key_path.clone()))
                });
            json!({
                "type": "postgres",
                "postgres": {
                    "host": pg.host,
                    "port": pg.port,
                    "user": pg.user,
                    "password": REDACTED,
                    "dbName": pg.db_name,
                    "connectionTimeout": pg.connection_timeout.as_secs(),
                    "minOpenConnections": pg.min_open_connections,
                    "maxOpenConnections": pg.max_open_connections,
                    "maxConnectionIdleTime": format_duration(pg.max_connection_idle_time),
                    "maxConnectionLifetime": format_duration(pg.max_connection_lifetime),
                    "tls": {
                        "mode": pg.tls.mode.as_str(),
                        "caPath": pg.tls.ca_path.as_ref().map_or_else(PathBuf::new, Clone::clone),
                        "certPath": cert.unwrap_or_default(),
                        "keyPath": key.unwrap_or_default(),
                        "disableSSLSNI": pg.tls.disable_sslsni,
                    },
                },
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Memory,
    Sqlite,
    Postgres,
}

impl Kind {
    fn parse(value: &str) -> Result<Self, Problem> {
        match value {
            "memory" => Ok(Self::Memory),
            "sqlite" => Ok(Self::Sqlite),
            "postgres" => Ok(Self::Postgres),
            "kubernetes" => Err(Problem::Kubernetes),
            other => {
                Err(Problem::OneOf { value: other.to_owned(), allowed: "sqlite, memory, postgres" })
            }
        }
    }
}

/// Reads every postgres setting; applies Kuma's validation only when `check` (type postgres).
fn postgres(loader: &Loader<'_>, check: bool) -> Result<PostgresConfig, Error> {
    let password = loader.or(&PASSWORD, DEFAULT_PASSWORD.to_owned(), parse::text)?;
    let timeout = loader.or(&CONNECTION_TIMEOUT, DEFAULT_CONNECTION_TIMEOUT_SECS, parse::number)?;
    Ok(PostgresConfig {
        host: loader.or(&HOST, DEFAULT_HOST.to_owned(), parse::text)?,
        port: loader.or(&PORT, DEFAULT_PORT, parse::port)?,
        user: loader.or(&USER, DEFAULT_USER.to_owned(), parse::text)?,
        password: SecretString::from(password),
        db_name: loader.or(&DB_NAME, DEFAULT_DB_NAME.to_owned(), parse::text)?,
        connection_timeout: Duration::from_secs(timeout),
        min_open_connections: loader.or(&MIN_OPEN, DEFAULT_MIN_OPEN, parse::number)?,
        max_open_connections: loader.or(&MAX_OPEN, DEFAULT_MAX_OPEN, parse::number)?,
        max_connection_idle_time: loader.or(
            &MAX_IDLE_TIME,
            DEFAULT_MAX_IDLE_TIME,
            parse::duration,
        )?,
        max_connection_lifetime: loader.or(&MAX_LIFETIME, DEFAULT_MAX_LIFETIME, parse::duration)?,
        tls: tls(loader, check)?,
    })
}

fn tls(loader: &Loader<'_>, check: bool) -> Result<PostgresTls, Error> {
    let mode = loader.value(&TLS_MODE, parse::text)?;
    let cert = loader.value(&TLS_CERT_PATH, parse::path)?;
    let key = loader.value(&TLS_KEY_PATH, parse::path)?;
    let ca = loader.value(&TLS_CA_PATH, parse::path)?;
    let disable_sslsni = loader.or(&TLS_DISABLE_SSLSNI, false, parse::boolean)?;
    let fail = |setting: &Setting, problem| Error::Invalid {
        at: loader.origin(setting),
        problem: Problem::PostgresTls(problem),
    };
    let mode = match mode {
        None => PostgresTlsMode::Disable,
        Some(m) => match PostgresTlsMode::parse(&m) {
            Ok(mode) => mode,
            Err(_) if !check => PostgresTlsMode::Disable,
            Err(_) => return Err(fail(&TLS_MODE, PostgresTlsProblem::Mode(m))),
        },
    };
    if !check {
        return Ok(PostgresTls { mode, ca_path: ca, client_cert: None, disable_sslsni });
    }
    let needs_ca = matches!(mode, PostgresTlsMode::VerifyCa | PostgresTlsMode::VerifyFull);
    if needs_ca && ca.is_none() {
        return Err(fail(&TLS_CA_PATH, PostgresTlsProblem::CaPathEmpty));
    }
    let client_cert = match (cert, key) {
        (None, None) => None,
        (Some(_), None) => return Err(fail(&TLS_KEY_PATH, PostgresTlsProblem::KeyPathEmpty)),
        (None, Some(_)) => return Err(fail(&TLS_CERT_PATH, PostgresTlsProblem::CertPathEmpty)),
        (Some(cert), Some(key)) => Some(ClientCert {
            cert_path: loader.exists(&TLS_CERT_PATH, cert, "certificate")?,
            key_path: loader.exists(&TLS_KEY_PATH, key, "key")?,
        }),
    };
    let ca_path = match ca {
        Some(ca) => Some(loader.exists(&TLS_CA_PATH, ca, "CA certificate")?),
        None => None,
    };
    Ok(PostgresTls { mode, ca_path, client_cert, disable_sslsni })
}

/// The password in plain text, for tests that check it was read.
#[cfg(test)]
pub(super) fn password(pg: &PostgresConfig) -> &str {
    use secrecy::ExposeSecret;
    pg.password.expose_secret()
}
