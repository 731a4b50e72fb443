//! A real PostgreSQL server for tests, with TLS, password and client-certificate logins.
//!
//! Owns finding the server binaries, `initdb` into a temporary directory, the certificates,
//! `pg_hba.conf`, and starting and stopping the server. It must not be used outside tests: the
//! logins use fixed passwords and the keys are throwaway. PostgreSQL refuses to run as root, so
//! when the tests run as root the server runs as the `postgres` OS user.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use secrecy::SecretString;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use tempfile::TempDir;

use super::certs::TestCa;
use crate::store::{ClientCert, PostgresConfig, PostgresTls, PostgresTlsMode};

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
            Err(e) => panic!("test PostgreSQL: {}", chain(&e)),
        };
        *slot = Arc::downgrade(&started);
        Some(started)
    }

    /// Starts a new server of its own: `initdb`, certificates, logins, `pg_ctl start`.
    pub fn start() -> Result<Self, Error> {
        let bin_dir = bin_dir().ok_or(Error::NotInstalled)?;
        let run_as_postgres = fs::metadata("/proc/self").map_err(io("/proc/self"))?.uid() == 0;
        let owner = if run_as_postgres {
            Some(os_user_ids()?)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("kuma-test-pg-")
            .tempdir()
            .map_err(io("/tmp"))?;
        let path = dir.path();
        chown(path, owner)?;
        let data_dir = path.join("data");

        let superuser_password = uuid::Uuid::new_v4().simple().to_string();
        let password_file = path.join("superuser-password");
        write(&password_file, &superuser_password, owner)?;
        let runner = Runner {
            bin_dir: &bin_dir,
            dir: path,
            run_as_postgres,
        };
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
        let client_cert = ClientCert {
            cert_path: path.join("client.crt"),
            key_path: path.join("client.key"),
        };
        write(&ca_path, &server_ca.pem(), None)?;
        write(
            &wrong_ca_path,
            &TestCa::new("kuma test wrong ca")?.pem(),
            None,
        )?;
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
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE DATABASE {name} OWNER {USER}"
        )))
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
            eprintln!("test PostgreSQL did not stop: {}", chain(&e));
        }
    }
}

/// Runs the server's programs, as the `postgres` OS user when we are root.
struct Runner<'a> {
    bin_dir: &'a Path,
    dir: &'a Path,
    run_as_postgres: bool,
}

impl Runner<'_> {
    fn run(
        &self,
        program: &str,
        args: &[&std::ffi::OsStr],
        stdin: Option<&str>,
    ) -> Result<(), Error> {
        let program = self.bin_dir.join(program);
        let mut command = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", OS_USER, "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            // The postgres user may not be allowed into the caller's working directory.
            .current_dir(self.dir)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = std::iter::once(program.as_os_str())
            .chain(args.iter().copied())
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let failed = |output: String| Error::Command {
            command: shown.clone(),
            output,
        };
        let mut child = command.spawn().map_err(|e| failed(e.to_string()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())
                .map_err(|e| failed(e.to_string()))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| failed(e.to_string()))?;
        if output.status.success() {
            return Ok(());
        }
        Err(failed(format!(
            "{}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        )))
    }
}

/// The highest `/usr/lib/postgresql/<version>/bin`, else `pg_config --bindir`.
fn bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_server(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    has_server(&bin).then_some(bin)
}

fn server_settings(port: u16) -> String {
    format!(
        "\n# kuma tests\n\
         listen_addresses = '{HOST},{MISMATCHED_HOST}'\n\
         port = {port}\n\
         unix_socket_directories = ''\n\
         max_connections = 300\n\
         ssl = on\n\
         ssl_cert_file = 'server.crt'\n\
         ssl_key_file = 'server.key'\n\
         ssl_ca_file = 'client-ca.crt'\n\
         password_encryption = 'scram-sha-256'\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n"
    )
}

/// First match wins: the cert user must present a certificate, and only over TLS.
fn hba() -> String {
    format!(
        "hostssl all {CERT_USER} 127.0.0.0/8 cert\n\
         host    all {CERT_USER} 127.0.0.0/8 reject\n\
         hostssl all all 127.0.0.0/8 scram-sha-256\n\
         host    all all 127.0.0.0/8 scram-sha-256\n"
    )
}

/// One statement per line: single-user mode runs each line on its own.
fn roles_sql() -> String {
    format!(
        "CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'\n\
         CREATE DATABASE {DB_NAME} OWNER {USER}\n\
         CREATE ROLE {CERT_USER} LOGIN\n\
         CREATE DATABASE {CERT_USER} OWNER {CERT_USER}\n"
    )
}

/// A port nobody listens on right now. The server binds it a moment later; a collision in
/// between makes `pg_ctl start` fail loudly rather than connect tests to a stranger.
fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind((HOST, 0)).map_err(io(HOST))?;
    Ok(listener.local_addr().map_err(io(HOST))?.port())
}

/// The uid and gid of the `postgres` OS user, from `/etc/passwd`.
fn os_user_ids() -> Result<(u32, u32), Error> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(io("/etc/passwd"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&OS_USER))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .ok_or(Error::NoOsUser)
}

/// Writes a file readable by its owner only, owned by `owner` when given.
fn write(path: &Path, contents: &str, owner: Option<(u32, u32)>) -> Result<(), Error> {
    fs::write(path, contents).map_err(io(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    chown(path, owner)
}

fn append(path: &Path, contents: &str) -> Result<(), Error> {
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(io(path))
}

fn chown(path: &Path, owner: Option<(u32, u32)>) -> Result<(), Error> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io(path)),
        None => Ok(()),
    }
}

fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.as_ref().to_path_buf();
    move |source| Error::Io { path, source }
}

/// The error and its causes on one line, for panics and logs.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
