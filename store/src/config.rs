//! Typed store settings. `config` fills them from `KUMA_STORE_*`; `Store::connect` consumes them.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// Which backend keeps the resources, and how to reach it.
#[derive(Debug, Clone)]
#[expect(clippy::large_enum_variant, reason = "built once at startup; boxing would only add noise")]
pub enum StoreConfig {
    /// Everything in process memory; lost on restart.
    Memory,
    /// An embedded SQLite database file (the default: `<work dir>/kuma.db`).
    Sqlite {
        /// Path of the database file; created when missing.
        path: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres(PostgresConfig),
}

/// `KUMA_STORE_POSTGRES_*`.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `KUMA_STORE_POSTGRES_HOST`.
    pub host: String,
    /// `KUMA_STORE_POSTGRES_PORT`.
    pub port: u16,
    /// `KUMA_STORE_POSTGRES_USER`.
    pub user: String,
    /// `KUMA_STORE_POSTGRES_PASSWORD`; never logged.
    pub password: SecretString,
    /// `KUMA_STORE_POSTGRES_DB_NAME`.
    pub db_name: String,
    /// `KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT` (whole seconds in Kuma).
    pub connection_timeout: Duration,
    /// `KUMA_STORE_POSTGRES_MIN_OPEN_CONNECTIONS`.
    pub min_open_connections: u32,
    /// `KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS`.
    pub max_open_connections: u32,
    /// `KUMA_STORE_POSTGRES_MAX_CONNECTION_IDLE_TIME`.
    pub max_connection_idle_time: Duration,
    /// `KUMA_STORE_POSTGRES_MAX_CONNECTION_LIFETIME`.
    pub max_connection_lifetime: Duration,
    /// `KUMA_STORE_POSTGRES_TLS_*`.
    pub tls: PostgresTls,
}

/// How the control plane protects its connection to PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresTls {
    /// `KUMA_STORE_POSTGRES_TLS_MODE`.
    pub mode: PostgresTlsMode,
    /// `KUMA_STORE_POSTGRES_TLS_CA_PATH`: required by `verifyCa` and `verifyFull`.
    pub ca_path: Option<PathBuf>,
    /// `KUMA_STORE_POSTGRES_TLS_CERT_PATH` and `_KEY_PATH`, always together.
    pub client_cert: Option<ClientCert>,
    /// `KUMA_STORE_POSTGRES_TLS_DISABLE_SSLSNI`.
    pub disable_sslsni: bool,
}

/// A client certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// The certificate (chain) file.
    pub cert_path: PathBuf,
    /// The private key file.
    pub key_path: PathBuf,
}

/// Kuma's names for libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostgresTlsMode {
    /// `disable`: plaintext.
    Disable,
    /// `verifyNone`: TLS without checking the server certificate (libpq `require`).
    VerifyNone,
    /// `verifyCa`: the server certificate must chain to the CA file (libpq `verify-ca`).
    VerifyCa,
    /// `verifyFull`: as `verifyCa`, and the host must match the certificate (libpq `verify-full`).
    VerifyFull,
}

impl PostgresTlsMode {
    /// Parses Kuma's spelling; the error text is Kuma's.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "disable" => Ok(Self::Disable),
            "verifyNone" => Ok(Self::VerifyNone),
            "verifyCa" => Ok(Self::VerifyCa),
            "verifyFull" => Ok(Self::VerifyFull),
            other => Err(format!("invalid mode: {other}")),
        }
    }

    /// Kuma's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::VerifyNone => "verifyNone",
            Self::VerifyCa => "verifyCa",
            Self::VerifyFull => "verifyFull",
        }
    }
}
