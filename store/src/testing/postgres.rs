//! A real PostgreSQL server for tests, with TLS, password and client-certificate logins.
//!
//! Owns finding the server binaries, `initdb` into a temporary directory, the certificates,
//! `pg_hba.conf`, and starting and stopping the server. It must not be used outside tests: the
//! logins use fixed passwords and the keys are throwaway. PostgreSQL refuses to run as root, so
//! when the tests run as root the server runs as the `postgres` OS user.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use kuma_core::error::Chain;
use secrecy::SecretString;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use tempfile::TempDir;

use super::certs::TestCa;
use crate::{ClientCert, PostgresConfig, PostgresTls, PostgresTlsMode};

mod setup;

use setup::{
    Runner, append, bin_dir, chown, free_port, hba, io, os_user_ids, roles_sql, server_settings,
    write,
};

/// The password login, with its own database.
pub const USER: &str = "kuma";
/// The password of [`USER`].
pub const PASSWORD: &str = "kuma";
/// The database owned by [`USER`].
pub const DB_NAME: &str = "kuma";
/// The login that must present a client certificate; it owns a database of the same name.
pub const CERT_USER: &str = "kuma_cert";
/// Where the server listens, and a SAN of its certificate.
pub const HOST: &str = "127.0.0.1";
/// The server listens here too, but the name is not in its certificate.
pub const MISMATCHED_HOST: &str = "127.0.0.2";

/// Set to `skip` to skip the PostgreSQL tests (they print that they were skipped).
const SKIP_VAR: &str = "KUMA_TEST_POSTGRES";
const SUPERUSER: &str = "postgres";
const OS_USER: &str = "postgres";
const START_TIMEOUT_SECS: &str = "60";

/// Why the test server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No server binaries on this machine.
    #[error(
        "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin or `pg_config --bindir`: \
         install postgresql (apt-get install postgresql), or set KUMA_TEST_POSTGRES=skip"
    )]
    NotInstalled,
    /// A file or directory could not be written.
    #[error("could not prepare {}", path.display())]
    Io {
        /// What was being written.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The `postgres` OS user is missing from `/etc/passwd`.
    #[error("running as root, but there is no `postgres` user to run the server as")]
    NoOsUser,
    /// The certificates could not be generated.
    #[error("could not generate the test certificates")]
    Certs(#[from] rcgen::Error),
    /// A PostgreSQL program failed.
    #[error("`{command}` failed: {output}")]
    Command {
        /// The program and its arguments.
        command: String,
        /// Its stderr and stdout, or why it did not run.
        output: String,
    },
    /// The server ran but refused to set up a database.
    #[error("could not create a test database")]
    Sql(#[source] sqlx::Error),
}

/// A running server. It stops, and its files are removed, on drop.
pub struct TestPostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    run_as_postgres: bool,
    port: u16,
    superuser_password: String,
    ca_path: PathBuf,
    wrong_ca_path: PathBuf,
    client_cert: ClientCert,
    next_db: AtomicU32,
    // Dropped last, after `Drop::drop` stopped the server.
    dir: TempDir,
}

impl TestPostgres {
    /// The server shared by every test of this process that holds it; started on first use and
    /// stopped when the last holder drops it. `None` when `KUMA_TEST_POSTGRES=skip` (after
    /// printing that the caller is skipped).
    ///
    /// # Panics
    /// When the server cannot start, including when PostgreSQL is not installed: a test that
    /// cannot run must not pass.
    pub fn shared() -> Option<Arc<Self>> {
        // A Weak, not the server itself: statics are never dropped, and the server must stop
        // when the tests are done.
        static SHARED: Mutex<Weak<TestPostgres>> = Mutex::new(Weak::new());
        if std::env::var(SKIP_VAR).is_ok_and(|v| v == "skip") {
            eprintln!("skipped: {SKIP_VAR}=skip");
            return None;
        }
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = slot.upgrade() {
            return Some(running);
        }
        let started = match Self::start() {
            Ok(started) => Arc::new(started),
            Err(e) => panic!("test PostgreSQL: {}", Chain(&e)),
        };
        *slot = Arc::downgrade(&started);
        Some(started)
    }

    /// Starts a new server of its own: `initdb`, certificates, logins, `pg_ctl start`.
    pub fn start() -> Result<Self, Error> {
        let bin_dir = bin_dir().ok_or(Error::NotInstalled)?;
        let run_as_postgres = fs::metadata("/proc/self").map_err(io("/proc/self"))?.uid() == 0;
        let owner = if run_as_postgres { Some(os_user_ids()?) } else { None };
        let dir = tempfile::Builder::new().prefix("kuma-test-pg-").tempdir().map_err(io("/tmp"))?;
        let path = dir.path();
        chown(path, owner)?;
        let data_dir = path.join("data");

        let superuser_password = uuid::Uuid::new_v4().simple().to_string();
        let password_file = path.join("superuser-password");
        write(&password_file, &superuser_password, owner)?;
        let runner = Runner { bin_dir: &bin_dir, dir: path, run_as_postgres };
        runner.run(
            "initdb",
            &[
                "-D".as_ref(),
                data_dir.as_os_str(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "--pwfile".as_ref(),
                password_file.as_os_str(),
                "--auth=scram-sha-256".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-sync".as_ref(),
            ],
            None,
        )?;

        let server_ca = TestCa::new("kuma test postgres server ca")?;
        let client_ca = TestCa::new("kuma test postgres client ca")?;
        let server = server_ca.server(&["localhost", HOST])?;
        let client = client_ca.client(CERT_USER)?;
        write(&data_dir.join("server.crt"), &server.chain, owner)?;
        write(&data_dir.join("server.key"), &server.key, owner)?;
        write(&data_dir.join("client-ca.crt"), &client_ca.pem(), owner)?;
        let ca_path = path.join("ca.crt");
        let wrong_ca_path = path.join("wrong-ca.crt");
        let client_cert =
            ClientCert { cert_path: path.join("client.crt"), key_path: path.join("client.key") };
        write(&ca_path, &server_ca.pem(), None)?;
        write(&wrong_ca_path, &TestCa::new("kuma test wrong ca")?.pem(), None)?;
        write(&client_cert.cert_path, &client.chain, None)?;
        write(&client_cert.key_path, &client.key, None)?;

        let port = free_port()?;
        append(&data_dir.join("postgresql.conf"), &server_settings(port))?;
        write(&data_dir.join("pg_hba.conf"), &hba(), owner)?;
        // Single-user mode runs SQL from stdin before any network login exists.
        runner.run(
            "postgres",
            &[
                "--single".as_ref(),
                "-D".as_ref(),
                data_dir.as_os_str(),
                "-c".as_ref(),
                "exit_on_error=true".as_ref(),
                SUPERUSER.as_ref(),
            ],
            Some(&roles_sql()),
        )?;
        let log = path.join("postgres.log");
        runner.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data_dir.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-t".as_ref(),
                START_TIMEOUT_SECS.as_ref(),
                "-w".as_ref(),
                "start".as_ref(),
            ],
            None,
        )?;
        Ok(Self {
            bin_dir,
            data_dir,
            run_as_postgres,
            port,
            superuser_password,
            ca_path,
            wrong_ca_path,
            client_cert,
            next_db: AtomicU32::new(0),
            dir,
        })
    }

    /// The port the server listens on, on [`HOST`] and [`MISMATCHED_HOST`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA that signed the server certificate (SANs `localhost` and `127.0.0.1`).
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// A CA that signed nothing this server presents.
    pub fn wrong_ca_path(&self) -> &Path {
        &self.wrong_ca_path
    }

    /// The client certificate and key of [`CERT_USER`].
    pub fn client_cert(&self) -> &ClientCert {
        &self.client_cert
    }

    /// Settings for [`USER`] on [`DB_NAME`] at [`HOST`] with this TLS mode, trusting
    /// [`Self::ca_path`] and without a client certificate.
    pub fn config(&self, mode: PostgresTlsMode) -> PostgresConfig {
        PostgresConfig {
            host: HOST.to_owned(),
            port: self.port,
            user: USER.to_owned(),
            password: SecretString::from(PASSWORD),
            db_name: DB_NAME.to_owned(),
            connection_timeout: Duration::from_secs(10),
            min_open_connections: 0,
            max_open_connections: 4,
            max_connection_idle_time: Duration::from_secs(30 * 60),
            max_connection_lifetime: Duration::from_secs(60 * 60),
            tls: PostgresTls {
                mode,
                ca_path: Some(self.ca_path.clone()),
                client_cert: None,
                disable_sslsni: false,
            },
        }
    }

    /// Settings for [`CERT_USER`] on its own database, with its client certificate and no
    /// password.
    pub fn cert_user_config(&self, mode: PostgresTlsMode) -> PostgresConfig {
        let mut config = self.config(mode);
        config.user = CERT_USER.to_owned();
        config.password = SecretString::from("");
        config.db_name = CERT_USER.to_owned();
        config.tls.client_cert = Some(self.client_cert.clone());
        config
    }

    /// Creates an empty database owned by [`USER`] and returns its name, so that tests sharing
    /// this server do not see each other's rows.
    pub async fn create_database(&self) -> Result<String, Error> {
        let name = format!("test_{}", self.next_db.fetch_add(1, Ordering::Relaxed));
        let mut conn = PgConnectOptions::new_without_pgpass()
            .host(HOST)
            .port(self.port)
            .username(SUPERUSER)
            .password(&self.superuser_password)
            .database("postgres")
            .ssl_mode(PgSslMode::Disable)
            .connect()
            .await
            .map_err(Error::Sql)?;
        // The name is built from a counter above, never from input.
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name} OWNER {USER}")))
            .execute(&mut conn)
            .await
            .map_err(Error::Sql)?;
        conn.close().await.map_err(Error::Sql)?;
        Ok(name)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let runner = Runner {
            bin_dir: &self.bin_dir,
            dir: self.dir.path(),
            run_as_postgres: self.run_as_postgres,
        };
        let args = [
            "-D".as_ref(),
            self.data_dir.as_os_str(),
            "-m".as_ref(),
            "fast".as_ref(),
            "-w".as_ref(),
            "stop".as_ref(),
        ];
        if let Err(e) = runner.run("pg_ctl", &args, None) {
            eprintln!("test PostgreSQL did not stop: {}", Chain(&e));
        }
    }
}
