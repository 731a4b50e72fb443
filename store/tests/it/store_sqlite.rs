//! What only the SQLite backend promises: where and how its file is made.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use serde_json::json;
use store::{Error, Key, Store, StoreConfig};

#[tokio::test]
async fn database_file_is_created_private_in_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/kuma.db");

    let store = Store::connect(&StoreConfig::Sqlite { path: path.clone() }).await.unwrap();
    store.create(Key::global("Mesh", "default"), json!({}), BTreeMap::new()).await.unwrap();

    assert_eq!(store.backend_name(), "sqlite");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "database file mode is {mode:o}");
    // WAL mode keeps a write-ahead log beside the database, with the same mode.
    let wal = path.with_extension("db-wal");
    let wal_mode = std::fs::metadata(&wal).unwrap().permissions().mode() & 0o777;
    assert_eq!(wal_mode, 0o600, "wal file mode is {wal_mode:o}");
}

#[tokio::test]
async fn unusable_path_fails_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be.
    let path = dir.path().to_path_buf();

    let err = Store::connect(&StoreConfig::Sqlite { path: path.clone() }).await.err().unwrap();

    assert!(matches!(&err, Error::Open { path: p, .. } if *p == path), "{err:?}");
    assert!(err.to_string().starts_with("could not open sqlite database "), "{err}");
}
