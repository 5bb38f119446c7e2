//! Test stores: a fresh SQLite file, or a fresh PostgreSQL database when
//! `POLICYCORTEX_TEST_DATABASE_URL` is set.

use std::ops::Deref;

use policycortex_store::testing::PostgresDatabase;
use policycortex_store::{SharedStore, StoreOptions};

/// A store for one test, with whatever it needs kept alive beside it.
pub struct TestStore {
    store: SharedStore,
    _directory: Option<tempfile::TempDir>,
    /// The PostgreSQL database made for this test, dropped (best effort) after the store.
    _database: Option<PostgresDatabase>,
}

impl Deref for TestStore {
    type Target = SharedStore;

    fn deref(&self) -> &SharedStore {
        &self.store
    }
}

impl TestStore {
    /// A store on a new SQLite file in a temporary directory.
    pub async fn sqlite() -> Self {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("test.db");
        let url = format!("sqlite://{}", path.display());
        let store = policycortex_store::open(&url, &StoreOptions::default())
            .await
            .unwrap();
        Self {
            store,
            _directory: Some(directory),
            _database: None,
        }
    }

    /// A store on a new PostgreSQL database, or `None` (and a note) when no test server
    /// is configured.
    pub async fn postgres() -> Option<Self> {
        let database = PostgresDatabase::create().await.unwrap()?;
        let store = policycortex_store::open(&database.url, &StoreOptions::default())
            .await
            .unwrap();
        Some(Self {
            store,
            _directory: None,
            _database: Some(database),
        })
    }
}
