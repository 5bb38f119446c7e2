//! Checks of how the PostgreSQL store connects.

use std::time::Duration;

use sqlx::{ConnectOptions as _, Connection as _};

use super::*;

#[tokio::test]
async fn every_connection_carries_the_statement_timeout() {
    let Ok(url) = std::env::var("POLICYCORTEX_TEST_DATABASE_URL") else {
        eprintln!("skipped: POLICYCORTEX_TEST_DATABASE_URL is not set");
        return;
    };
    let options = StoreOptions {
        statement_timeout: Duration::from_millis(1234),
        ..StoreOptions::default()
    };

    let mut connection = connect_options(&url, &options)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();

    assert_eq!(timeout, "1234ms");
}
