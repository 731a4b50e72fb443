//! Opens a store on each backend for the conformance suite, and reopens it to check persistence.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use store::testing::postgres::TestPostgres;
use store::{PostgresConfig, PostgresTlsMode, Store, StoreConfig};
use tempfile::TempDir;

/// The backends every conformance test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

/// A store with the means to open the same data again.
pub struct TestStore {
    pub store: Store,
    source: Source,
}

enum Source {
    Memory,
    Sqlite { path: PathBuf, _dir: TempDir },
    // Holding the server keeps it running for as long as the test needs it.
    Postgres { config: Box<PostgresConfig>, _server: Arc<TestPostgres> },
}

impl TestStore {
    /// A fresh, empty store; `None` when the PostgreSQL tests are skipped.
    pub async fn open(backend: Backend) -> Option<Self> {
        let (config, source) = match backend {
            Backend::Memory => (StoreConfig::Memory, Source::Memory),
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("kuma.db");
                (StoreConfig::Sqlite { path: path.clone() }, Source::Sqlite { path, _dir: dir })
            }
            Backend::Postgres => {
                let server = TestPostgres::shared()?;
                let mut config = server.config(PostgresTlsMode::VerifyFull);
                config.db_name = server.create_database().await.unwrap();
                let store_config = StoreConfig::Postgres(config.clone());
                (store_config, Source::Postgres { config: Box::new(config), _server: server })
            }
        };
        let store = Store::connect(&config).await.unwrap();
        Some(Self { store, source })
    }

    /// A second store over the same data, as after a restart; `None` for memory.
    pub async fn reopen(&self) -> Option<Store> {
        let config = match &self.source {
            Source::Memory => return None,
            Source::Sqlite { path, .. } => StoreConfig::Sqlite { path: path.clone() },
            Source::Postgres { config, .. } => StoreConfig::Postgres((**config).clone()),
        };
        Some(Store::connect(&config).await.unwrap())
    }
}

/// Runs one conformance test on one backend, or says it was skipped.
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestStore) -> Fut,
    Fut: Future<Output = ()>,
{
    match TestStore::open(backend).await {
        Some(store) => test(store).await,
        None => eprintln!("skipped on {backend:?}"),
    }
}

/// Labels from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}
