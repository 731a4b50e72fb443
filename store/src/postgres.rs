//! Opens the `postgres` backend from [`PostgresConfig`].
//!
//! Owns the mapping of Kuma's settings onto sqlx's connection and pool options, including the TLS
//! modes, and the PostgreSQL migrations. Queries live in `sql`, not here.

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};

use super::sql::{SqlStore, migrator};
use super::{Error, PostgresConfig, PostgresTlsMode};

/// Kuma's default for `KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS`, used when it is 0: Go's
/// `database/sql` reads 0 as unlimited, while an sqlx pool needs a bound.
const DEFAULT_MAX_CONNECTIONS: u32 = 50;
const APPLICATION_NAME: &str = "kuma-cp";
/// sqlx's own default, set explicitly like every other field.
const STATEMENT_CACHE_CAPACITY: usize = 100;

/// Connects, checks that one connection works and brings the schema up to date.
pub(super) async fn open(config: &PostgresConfig) -> Result<SqlStore<Postgres>, Error> {
    let options = connect_options(config)?;
    if config.tls.disable_sslsni {
        tracing::warn!(
            "KUMA_STORE_POSTGRES_TLS_DISABLE_SSLSNI has no effect: sqlx always sends SNI for host names"
        );
    }
    let max = match config.max_open_connections {
        0 => DEFAULT_MAX_CONNECTIONS,
        n => n,
    };
    let pool = PgPoolOptions::new()
        .min_connections(config.min_open_connections.min(max))
        .max_connections(max)
        .acquire_timeout(config.connection_timeout)
        .idle_timeout(non_zero(config.max_connection_idle_time))
        .max_lifetime(non_zero(config.max_connection_lifetime))
        .connect_with(options)
        .await
        .map_err(|source| Error::Connect {
            host: config.host.clone(),
            port: config.port,
            source,
        })?;
    migrator(&[(1, "resources", include_str!("../migrations/postgres/0001_resources.sql"))])
        .run(&pool)
        .await
        .map_err(|source| Error::Migrate { backend: "postgres", source })?;
    Ok(SqlStore::new(pool))
}

/// Sets every field sqlx would otherwise take from `PG*` environment variables.
///
/// sqlx offers no way to clear a certificate path once read from `PGSSLROOTCERT`, `PGSSLCERT`
/// or `PGSSLKEY`; the configured paths replace them whenever they are set, and `verifyCa` and
/// `verifyFull` always set the root.
fn connect_options(config: &PostgresConfig) -> Result<PgConnectOptions, Error> {
    let tls = &config.tls;
    let ssl_mode = match tls.mode {
        PostgresTlsMode::Disable => PgSslMode::Disable,
        PostgresTlsMode::VerifyNone => PgSslMode::Require,
        PostgresTlsMode::VerifyCa => PgSslMode::VerifyCa,
        PostgresTlsMode::VerifyFull => PgSslMode::VerifyFull,
    };
    let verifies = matches!(tls.mode, PostgresTlsMode::VerifyCa | PostgresTlsMode::VerifyFull);
    if verifies && tls.ca_path.is_none() {
        // Without a CA file sqlx would fall back to the public web roots.
        return Err(Error::InvalidTls { reason: "CAPath cannot be empty" });
    }
    let mut options = PgConnectOptions::new_without_pgpass()
        .host(&config.host)
        .port(config.port)
        .username(&config.user)
        .password(config.password.expose_secret())
        .database(&config.db_name)
        .ssl_mode(ssl_mode)
        .application_name(APPLICATION_NAME)
        .statement_cache_capacity(STATEMENT_CACHE_CAPACITY)
        .extra_float_digits(2);
    if let Some(ca) = &tls.ca_path {
        options = options.ssl_root_cert(ca);
    }
    if let Some(client) = &tls.client_cert {
        options = options.ssl_client_cert(&client.cert_path).ssl_client_key(&client.key_path);
    }
    Ok(options)
}

/// Kuma reads a zero duration as "no limit".
fn non_zero(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use secrecy::SecretString;

    use super::*;
    use crate::PostgresTls;

    fn config(mode: PostgresTlsMode, ca_path: Option<PathBuf>) -> PostgresConfig {
        PostgresConfig {
            host: "db.example".to_owned(),
            port: 15432,
            user: "kuma".to_owned(),
            password: SecretString::from("secret"),
            db_name: "kuma".to_owned(),
            connection_timeout: Duration::from_secs(5),
            min_open_connections: 0,
            max_open_connections: 50,
            max_connection_idle_time: Duration::from_secs(1800),
            max_connection_lifetime: Duration::from_secs(3600),
            tls: PostgresTls { mode, ca_path, client_cert: None, disable_sslsni: false },
        }
    }

    #[test]
    fn verifying_modes_without_ca_are_rejected() {
        for mode in [PostgresTlsMode::VerifyCa, PostgresTlsMode::VerifyFull] {
            let err = connect_options(&config(mode, None)).unwrap_err();
            assert_eq!(err.to_string(), "TLS validation failed: CAPath cannot be empty");
        }
    }

    #[test]
    fn modes_map_to_libpq_ssl_modes() {
        let ca = Some(PathBuf::from("/ca.pem"));
        let cases = [
            (PostgresTlsMode::Disable, PgSslMode::Disable),
            (PostgresTlsMode::VerifyNone, PgSslMode::Require),
            (PostgresTlsMode::VerifyCa, PgSslMode::VerifyCa),
            (PostgresTlsMode::VerifyFull, PgSslMode::VerifyFull),
        ];
        for (mode, expected) in cases {
            let options = connect_options(&config(mode, ca.clone())).unwrap();
            assert_eq!(format!("{:?}", options.get_ssl_mode()), format!("{expected:?}"));
            assert_eq!(options.get_host(), "db.example");
            assert_eq!(options.get_port(), 15432);
            assert_eq!(options.get_username(), "kuma");
            assert_eq!(options.get_database(), Some("kuma"));
        }
    }

    #[test]
    fn zero_durations_mean_no_limit() {
        assert_eq!(non_zero(Duration::ZERO), None);
        assert_eq!(non_zero(Duration::from_secs(1)), Some(Duration::from_secs(1)));
    }
}
