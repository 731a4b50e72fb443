//! The files and processes behind [`TestPostgres`](super::TestPostgres): finding the binaries,
//! running them as the right OS user, and writing the server's settings and keys.
//!
//! Nothing here knows which tests run; it must not start or stop the server on its own.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{CERT_USER, DB_NAME, Error, HOST, MISMATCHED_HOST, OS_USER, PASSWORD, USER};

/// Runs the server's programs, as the `postgres` OS user when we are root.
pub(super) struct Runner<'a> {
    pub(super) bin_dir: &'a Path,
    pub(super) dir: &'a Path,
    pub(super) run_as_postgres: bool,
}

impl Runner<'_> {
    pub(super) fn run(
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
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = std::iter::once(program.as_os_str())
            .chain(args.iter().copied())
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let failed = |output: String| Error::Command { command: shown.clone(), output };
        let mut child = command.spawn().map_err(|e| failed(e.to_string()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).map_err(|e| failed(e.to_string()))?;
        }
        let output = child.wait_with_output().map_err(|e| failed(e.to_string()))?;
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
pub(super) fn bin_dir() -> Option<PathBuf> {
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

pub(super) fn server_settings(port: u16) -> String {
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
pub(super) fn hba() -> String {
    format!(
        "hostssl all {CERT_USER} 127.0.0.0/8 cert\n\
         host    all {CERT_USER} 127.0.0.0/8 reject\n\
         hostssl all all 127.0.0.0/8 scram-sha-256\n\
         host    all all 127.0.0.0/8 scram-sha-256\n"
    )
}

/// One statement per line: single-user mode runs each line on its own.
pub(super) fn roles_sql() -> String {
    format!(
        "CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'\n\
         CREATE DATABASE {DB_NAME} OWNER {USER}\n\
         CREATE ROLE {CERT_USER} LOGIN\n\
         CREATE DATABASE {CERT_USER} OWNER {CERT_USER}\n"
    )
}

/// A port nobody listens on right now. The server binds it a moment later; a collision in
/// between makes `pg_ctl start` fail loudly rather than connect tests to a stranger.
pub(super) fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind((HOST, 0)).map_err(io(HOST))?;
    Ok(listener.local_addr().map_err(io(HOST))?.port())
}

/// The uid and gid of the `postgres` OS user, from `/etc/passwd`.
pub(super) fn os_user_ids() -> Result<(u32, u32), Error> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(io("/etc/passwd"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&OS_USER))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .ok_or(Error::NoOsUser)
}

/// Writes a file readable by its owner only, owned by `owner` when given.
pub(super) fn write(path: &Path, contents: &str, owner: Option<(u32, u32)>) -> Result<(), Error> {
    fs::write(path, contents).map_err(io(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    chown(path, owner)
}

pub(super) fn append(path: &Path, contents: &str) -> Result<(), Error> {
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(io(path))
}

pub(super) fn chown(path: &Path, owner: Option<(u32, u32)>) -> Result<(), Error> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io(path)),
        None => Ok(()),
    }
}

pub(super) fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.as_ref().to_path_buf();
    move |source| Error::Io { path, source }
}
