//! Scratch PostgreSQL databases for tests: each test run, or each test, gets a database of
//! its own on the server `POLICYCORTEX_TEST_DATABASE_URL` names, so that runs never see
//! each other's rows. Used by this crate's and the server's tests.

use sqlx::Connection as _;

use crate::common::map_error;
use crate::StoreResult;

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
    pub async fn create() -> StoreResult<Option<Self>> {
        let Some(admin_url) = test_server_url() else {
            return Ok(None);
        };
        let name = create_database(&admin_url).await?;
        let url = with_database(&admin_url, &name);
        Ok(Some(Self {
            name,
            url,
            admin_url,
        }))
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

/// The test server's URL, or `None` and a note on stderr.
fn test_server_url() -> Option<String> {
    let url = std::env::var(TEST_DATABASE_URL).ok();
    if url.is_none() {
        eprintln!("skipped: {TEST_DATABASE_URL} is not set");
    }
    url
}

/// Creates a database named `pc_test_` and 16 random hex digits; answers the name.
async fn create_database(admin_url: &str) -> StoreResult<String> {
    let name = format!("pc_test_{:016x}", rand::random::<u64>());
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(map_error)?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .map_err(map_error)?;
    admin.close().await.map_err(map_error)?;
    Ok(name)
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
