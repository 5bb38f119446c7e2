//! Test stores: a fresh SQLite file, or a fresh PostgreSQL database when
//! `POLICYCORTEX_TEST_DATABASE_URL` is set.

use std::ops::Deref;

use policycortex_store::{SharedStore, StoreOptions};

/// A store for one test, with whatever it needs kept alive beside it.
pub struct TestStore {
    store: SharedStore,
    _directory: Option<tempfile::TempDir>,
    /// The PostgreSQL database made for this test, dropped (best effort) with the store.
    database: Option<PostgresDatabase>,
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
            database: None,
        }
    }

    /// A store on a new PostgreSQL database, or `None` (and a note) when no test server
    /// is configured.
    pub async fn postgres() -> Option<Self> {
        let database = PostgresDatabase::create().await?;
        let store = policycortex_store::open(&database.url, &StoreOptions::default())
            .await
            .unwrap();
        Some(Self {
            store,
            _directory: None,
            database: Some(database),
        })
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(database) = &self.database {
            database.drop_best_effort();
        }
    }
}

/// The variable that names the PostgreSQL server tests may use.
pub const TEST_DATABASE_URL: &str = "POLICYCORTEX_TEST_DATABASE_URL";

/// A new, empty PostgreSQL database on the test server, with a name of its own.
pub struct PostgresDatabase {
    /// Such as `pc_test_5f3a…`.
    pub name: String,
    /// The URL of the server's administrative database, used to create and drop it.
    pub admin_url: String,
    /// The URL of the new database.
    pub url: String,
}

impl PostgresDatabase {
    /// Creates a uniquely named database on the server `POLICYCORTEX_TEST_DATABASE_URL`
    /// names, or prints a note and answers `None` when the variable is not set.
    pub async fn create() -> Option<Self> {
        use sqlx::Connection as _;

        let Ok(admin_url) = std::env::var(TEST_DATABASE_URL) else {
            eprintln!("skipped: {TEST_DATABASE_URL} is not set");
            return None;
        };
        let name = format!("pc_test_{:016x}", rand::random::<u64>());

        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();

        let url = with_database(&admin_url, &name);
        Some(Self {
            name,
            admin_url,
            url,
        })
    }

    /// Drops the database, closing whatever connections remain; failures are ignored.
    /// It runs on a thread of its own, so that it works from `Drop` inside a test's
    /// runtime.
    pub fn drop_best_effort(&self) {
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let dropping = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                use sqlx::Connection as _;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&sql).execute(&mut admin).await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = dropping.join();
    }
}

/// Creates a fresh, uniquely named database on the test server and answers its URL, or
/// `None` (and a note) when `POLICYCORTEX_TEST_DATABASE_URL` is not set. The database is
/// left in place; call [`PostgresDatabase::create`] instead to be able to drop it.
pub async fn fresh_postgres_url() -> Option<String> {
    PostgresDatabase::create().await.map(|database| database.url)
}

/// `url` with its database name replaced by `database`, keeping any query string.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |index| authority_start + index);
    format!("{}/{database}{query}", &base[..path_start])
}
