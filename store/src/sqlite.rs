//! Opens the `sqlite` backend: an embedded database file.
//!
//! Owns the file's creation (parent directory, mode 0600, since secrets are stored unencrypted),
//! WAL mode and the SQLite migrations. Queries live in `sql`, not here.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::Error;
use super::sql::{SqlStore, migrator};

/// How long a writer waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL lets readers run beside the single writer; a few connections are enough.
const MAX_CONNECTIONS: u32 = 4;

/// Creates the file if needed, opens it and brings the schema up to date.
pub(super) async fn open(path: &Path) -> Result<SqlStore<Sqlite>, Error> {
    let open_error = |source: Box<dyn std::error::Error + Send + Sync>| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    create_private_file(path).map_err(|e| open_error(e.into()))?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL is durable across application crashes in WAL mode; only a power loss may drop
        // the last commits, which is Kuma's trade-off too.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .map_err(|e| open_error(e.into()))?;
    migrator(&[(1, "resources", include_str!("../migrations/sqlite/0001_resources.sql"))])
        .run(&pool)
        .await
        .map_err(|source| Error::Migrate { backend: "sqlite", source })?;
    Ok(SqlStore::new(pool))
}

/// Creates the parent directory and an empty file readable by the owner only. An existing file
/// keeps its mode: the operator chose it. SQLite gives its `-wal` and `-shm` files the mode of
/// the database file.
fn create_private_file(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
