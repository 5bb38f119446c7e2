//! PostgreSQL behaviour the shared suite cannot show: several stores over one database, as
//! several servers behind a load balancer hold them, racing each other.
//!
//! Each test runs when `POLICYCORTEX_TEST_DATABASE_URL` names a server and gets a
//! database of its own; without it, each prints a note and passes.

#[allow(
    dead_code,
    reason = "this test binary uses only the PostgreSQL part of the support module"
)]
mod support;

use std::time::Duration;

use policycortex_engine::{Effect, PolicySpec, Rule, Severity};
use policycortex_store::postgres::PostgresStore;
use policycortex_store::testing::PostgresDatabase;
use policycortex_store::*;

fn spec(name: &str) -> PolicySpec {
    PolicySpec {
        name: name.into(),
        description: None,
        resource_type: "AWS::S3::Bucket".into(),
        severity: Severity::High,
        enabled: true,
        rules: vec![Rule {
            condition: "resource.encryption.enabled != true".into(),
            effect: Effect::Deny,
            message: "S3 bucket must have encryption enabled".into(),
        }],
        compliance_frameworks: vec![],
        auto_remediation: false,
        remediation_action: None,
        tags: vec![],
    }
}

async fn open(database: &PostgresDatabase) -> PostgresStore {
    PostgresStore::open(&database.url, &StoreOptions::default())
        .await
        .unwrap()
}

/// A fresh database with two stores over it and an organization made through the first.
async fn two_stores() -> Option<(PostgresDatabase, PostgresStore, PostgresStore, WriteContext)> {
    let database = PostgresDatabase::create().await.unwrap()?;
    let first = open(&database).await;
    let second = open(&database).await;
    let organization = first.create_organization("acme").await.unwrap();
    let ctx = WriteContext {
        organization_id: organization.id,
        actor: "key_test:ci".into(),
        request_id: "req_1".into(),
    };
    Some((database, first, second, ctx))
}

#[tokio::test]
async fn servers_migrating_one_empty_database_at_once_all_succeed() {
    let Some(database) = PostgresDatabase::create().await.unwrap() else {
        return;
    };

    let options = StoreOptions::default();
    let (first, second, third) = tokio::join!(
        PostgresStore::open(&database.url, &options),
        PostgresStore::open(&database.url, &options),
        PostgresStore::open(&database.url, &options),
    );

    for store in [first, second, third] {
        let store = store.unwrap();
        assert!(store.ping().await.is_ok());
    }
}

#[tokio::test]
async fn creating_one_name_from_two_servers_at_once_gives_one_conflict() {
    let Some((_database, first, second, ctx)) = two_stores().await else {
        return;
    };

    for round in 0..5 {
        let policy = spec(&format!("encrypt{round}"));
        let (a, b) = tokio::join!(
            first.create_policy(&ctx, &policy),
            second.create_policy(&ctx, &policy),
        );

        let created = [&a, &b].iter().filter(|result| result.is_ok()).count();
        let conflicts = [&a, &b]
            .iter()
            .filter(|result| matches!(result, Err(StoreError::Conflict(_))))
            .count();
        assert_eq!((created, conflicts), (1, 1), "{a:?} {b:?}");
    }
    let stored = first.all_policies(&ctx.organization_id).await.unwrap();
    assert_eq!(stored.len(), 5);
}

#[tokio::test]
async fn updating_one_version_from_two_servers_at_once_gives_one_mismatch() {
    let Some((_database, first, second, ctx)) = two_stores().await else {
        return;
    };
    let created = first.create_policy(&ctx, &spec("encrypt")).await.unwrap();
    let mut low = spec("encrypt");
    low.severity = Severity::Low;
    let mut critical = spec("encrypt");
    critical.severity = Severity::Critical;

    let (a, b) = tokio::join!(
        first.update_policy(&ctx, &created.id, 1, &low),
        second.update_policy(&ctx, &created.id, 1, &critical),
    );

    let updated = [&a, &b].iter().filter(|result| result.is_ok()).count();
    let mismatches = [&a, &b]
        .iter()
        .filter(|result| {
            matches!(
                result,
                Err(StoreError::VersionMismatch {
                    expected: 1,
                    actual: 2
                })
            )
        })
        .count();
    assert_eq!((updated, mismatches), (1, 1), "{a:?} {b:?}");
    let page = PageRequest {
        limit: 10,
        after: None,
    };
    let versions = second
        .list_policy_versions(&ctx.organization_id, &created.id, &page)
        .await
        .unwrap();
    assert_eq!(versions.items.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_from_two_servers_all_reach_the_audit_trail() {
    let Some((_database, first, second, ctx)) = two_stores().await else {
        return;
    };

    let mut writes = tokio::task::JoinSet::new();
    for index in 0..10 {
        let store = if index % 2 == 0 { &first } else { &second }.clone();
        let ctx = ctx.clone();
        writes.spawn(async move { store.create_policy(&ctx, &spec(&format!("p{index}"))).await });
    }
    let results = writes.join_all().await;

    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let events = first
        .list_audit_events(&ctx.organization_id, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(events.items.len(), 10);
    let revision = second.policy_revision(&ctx.organization_id).await.unwrap();
    assert_eq!(revision, 10);
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let options = StoreOptions {
        acquire_timeout: Duration::from_millis(500),
        ..StoreOptions::default()
    };

    let opened = PostgresStore::open("postgres://postgres@127.0.0.1:1/none", &options).await;

    assert!(
        matches!(opened, Err(StoreError::Unavailable(_))),
        "{opened:?}"
    );
}
