//! Test stores: a fresh SQLite file, or a fresh PostgreSQL database when
//! `POLICYCORTEX_TEST_DATABASE_URL` is set.

use std::ops::Deref;

use sqlx::Connection as _;

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
    #[allow(
        clippy::unwrap_used,
        reason = "a test store that cannot be made fails the test"
    )]
    pub async fn postgres() -> Option<Self> {
        let database = PostgresDatabase::create().await?;
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

/// The variable that names the PostgreSQL server tests may use.
pub const TEST_DATABASE_URL: &str = "POLICYCORTEX_TEST_DATABASE_URL";

/// A new, empty PostgreSQL database on the test server, with a name of its own, dropped
/// (best effort, closing whatever connections remain) when this value is.
pub struct PostgresDatabase {
    /// Such as `pc_test_5f3a…`.
    pub name: String,
    /// The URL of the new database.
    pub url: String,
    /// The URL of the server's administrative database, used to drop it.
    admin_url: String,
}

impl PostgresDatabase {
    /// Creates a uniquely named database on the server `POLICYCORTEX_TEST_DATABASE_URL`
    /// names, or prints a note and answers `None` when the variable is not set.
    pub async fn create() -> Option<Self> {
        let admin_url = test_server_url()?;
        let name = create_database(&admin_url).await;
        let url = with_database(&admin_url, &name);
        Some(Self {
            name,
            url,
            admin_url,
        })
    }
}

impl Drop for PostgresDatabase {
    /// Drops the database on a thread of its own, so that it works inside a test's
    /// runtime; failures are ignored.
    fn drop(&mut self) {
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
/// left in place; a test that wants it dropped holds a [`PostgresDatabase`] instead.
#[allow(
    dead_code,
    reason = "a helper for tests that open stores by URL; the suite itself does not"
)]
pub async fn fresh_postgres_url() -> Option<String> {
    let admin_url = test_server_url()?;
    let name = create_database(&admin_url).await;
    Some(with_database(&admin_url, &name))
}

/// The test server's URL, or `None` and a note on stderr.
fn test_server_url() -> Option<String> {
    let url = std::env::var(TEST_DATABASE_URL).ok();
    if url.is_none() {
        eprintln!("skipped: {TEST_DATABASE_URL} is not set");
    }
    url
}

/// Creates a database named `pc_test_` and 16 random hex digits; answers the name.
#[allow(
    clippy::unwrap_used,
    reason = "a test database that cannot be made fails the test"
)]
async fn create_database(admin_url: &str) -> String {
    let name = format!("pc_test_{:016x}", rand::random::<u64>());
    let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    name
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
