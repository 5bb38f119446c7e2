//! Test stores: a fresh SQLite file, or a fresh PostgreSQL database when
//! `POLICYCORTEX_TEST_DATABASE_URL` is set.

use std::ops::Deref;

use policycortex_store::{SharedStore, StoreOptions};

/// A store for one test, with whatever it needs kept alive beside it.
pub struct TestStore {
    store: SharedStore,
    _directory: Option<tempfile::TempDir>,
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
        }
    }

    /// A store on a new PostgreSQL database, or `None` (and a note) when no test server
    /// is configured.
    pub async fn postgres() -> Option<Self> {
        let Ok(_url) = std::env::var("POLICYCORTEX_TEST_DATABASE_URL") else {
            eprintln!("skipped: POLICYCORTEX_TEST_DATABASE_URL is not set");
            return None;
        };
        eprintln!("skipped: the PostgreSQL store is not built yet");
        None
    }
}
