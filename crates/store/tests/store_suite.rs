//! The store suite: the same behaviour sentences, run against every store.
//!
//! SQLite runs always, on a temporary file. PostgreSQL runs when
//! `POLICYCORTEX_TEST_DATABASE_URL` names a server; each test gets a database of its own.

mod support;

use policycortex_engine::{Effect, PolicySpec, Rule, Severity};
use policycortex_store::cursor::Cursor;
use policycortex_store::*;
use support::TestStore;

fn spec(name: &str) -> PolicySpec {
    PolicySpec {
        name: name.into(),
        description: Some("keep buckets encrypted".into()),
        resource_type: "AWS::S3::Bucket".into(),
        severity: Severity::High,
        enabled: true,
        rules: vec![Rule {
            condition: "resource.encryption.enabled != true".into(),
            effect: Effect::Deny,
            message: "S3 bucket must have encryption enabled".into(),
        }],
        compliance_frameworks: vec!["SOC2".into()],
        auto_remediation: false,
        remediation_action: None,
        tags: vec!["security".into()],
    }
}

fn query(limit: u32) -> PolicyQuery {
    PolicyQuery {
        resource_type: None,
        severity: None,
        enabled: None,
        tags: vec![],
        sort_by: SortField::CreatedAt,
        order: SortOrder::Asc,
        limit,
        start: PageStart::Offset(0),
    }
}

async fn organization(store: &SharedStore) -> WriteContext {
    let organization = store.create_organization("acme").await.unwrap();
    WriteContext {
        organization_id: organization.id,
        actor: "key_test:ci".into(),
        request_id: "req_1".into(),
    }
}

/// Declares one `#[tokio::test]` per store for each suite function.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(super::TestStore::sqlite().await).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                let Some(store) = super::TestStore::postgres().await else { return };
                super::$name(store).await
            })*
        }
    };
}

suite!(
    a_created_policy_reads_back_unchanged,
    a_taken_name_is_a_conflict_and_stores_nothing,
    the_same_name_is_free_in_another_organization,
    another_organizations_policy_is_invisible,
    an_update_bumps_version_and_keeps_created_fields,
    an_update_with_a_stale_version_changes_nothing,
    a_deleted_policy_is_gone_but_its_history_stays,
    every_write_leaves_an_audit_event,
    filters_combine_and_tags_need_every_tag,
    offset_paging_reports_total_and_has_more,
    a_cursor_walk_sees_every_row_once_while_rows_come_and_go,
    sorting_by_severity_and_name_follows_the_order,
    the_policy_revision_grows_with_every_write,
    api_keys_are_found_by_hash_and_revoked,
    an_idempotency_key_is_claimed_once_then_answered,
    a_released_idempotency_key_can_be_claimed_again,
    concurrent_claims_of_one_key_let_exactly_one_run,
    a_reservation_pending_past_its_lifetime_is_taken_over,
    an_answer_past_its_retention_is_forgotten_and_its_key_claimed_anew,
    concurrent_creates_never_overshoot_the_policy_quota,
);

async fn a_created_policy_reads_back_unchanged(store: TestStore) {
    let ctx = organization(&store).await;

    let created = store.create_policy(&ctx, &spec("encrypt")).await.unwrap();
    let read = store
        .get_policy(&ctx.organization_id, &created.id)
        .await
        .unwrap();

    assert!(created.id.starts_with("pol_"));
    assert_eq!(created.version, 1);
    assert_eq!(created.created_by, "key_test:ci");
    assert_eq!(read, Some(created));
}

async fn a_taken_name_is_a_conflict_and_stores_nothing(store: TestStore) {
    let ctx = organization(&store).await;
    store.create_policy(&ctx, &spec("encrypt")).await.unwrap();

    let second = store.create_policy(&ctx, &spec("encrypt")).await;

    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    assert_eq!(
        store
            .all_policies(&ctx.organization_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn the_same_name_is_free_in_another_organization(store: TestStore) {
    let first = organization(&store).await;
    let second = organization(&store).await;

    store.create_policy(&first, &spec("encrypt")).await.unwrap();

    assert!(store.create_policy(&second, &spec("encrypt")).await.is_ok());
}

async fn another_organizations_policy_is_invisible(store: TestStore) {
    let owner = organization(&store).await;
    let stranger = organization(&store).await;
    let policy = store.create_policy(&owner, &spec("encrypt")).await.unwrap();

    let read = store
        .get_policy(&stranger.organization_id, &policy.id)
        .await
        .unwrap();
    let update = store
        .update_policy(&stranger, &policy.id, 1, &spec("mine"))
        .await;
    let delete = store.delete_policy(&stranger, &policy.id, None).await;
    let list = store
        .list_policies(&stranger.organization_id, &query(10))
        .await
        .unwrap();

    assert_eq!(read, None);
    assert!(matches!(update, Err(StoreError::NotFound)));
    assert!(matches!(delete, Err(StoreError::NotFound)));
    assert!(list.items.is_empty());
    assert!(store
        .get_policy(&owner.organization_id, &policy.id)
        .await
        .unwrap()
        .is_some());
}

async fn an_update_bumps_version_and_keeps_created_fields(store: TestStore) {
    let ctx = organization(&store).await;
    let created = store.create_policy(&ctx, &spec("encrypt")).await.unwrap();
    let mut changed = spec("encrypt");
    changed.severity = Severity::Critical;

    let updated = store
        .update_policy(&ctx, &created.id, 1, &changed)
        .await
        .unwrap();

    assert_eq!(updated.version, 2);
    assert_eq!(updated.severity, Severity::Critical);
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(
        store
            .get_policy(&ctx.organization_id, &created.id)
            .await
            .unwrap(),
        Some(updated)
    );
}

async fn an_update_with_a_stale_version_changes_nothing(store: TestStore) {
    let ctx = organization(&store).await;
    let created = store.create_policy(&ctx, &spec("encrypt")).await.unwrap();
    store
        .update_policy(&ctx, &created.id, 1, &spec("renamed"))
        .await
        .unwrap();

    let stale = store
        .update_policy(&ctx, &created.id, 1, &spec("again"))
        .await;

    assert!(matches!(
        stale,
        Err(StoreError::VersionMismatch {
            expected: 1,
            actual: 2
        })
    ));
    let read = store
        .get_policy(&ctx.organization_id, &created.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.name, "renamed");
}

async fn a_deleted_policy_is_gone_but_its_history_stays(store: TestStore) {
    let ctx = organization(&store).await;
    let created = store.create_policy(&ctx, &spec("encrypt")).await.unwrap();
    store
        .update_policy(&ctx, &created.id, 1, &spec("renamed"))
        .await
        .unwrap();

    store
        .delete_policy(&ctx, &created.id, Some(2))
        .await
        .unwrap();

    assert_eq!(
        store
            .get_policy(&ctx.organization_id, &created.id)
            .await
            .unwrap(),
        None
    );
    let page = PageRequest {
        limit: 10,
        after: None,
    };
    let versions = store
        .list_policy_versions(&ctx.organization_id, &created.id, &page)
        .await
        .unwrap();
    let actions: Vec<_> = versions
        .items
        .iter()
        .map(|v| (v.action.as_str(), v.version))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("policy.created", 1),
            ("policy.updated", 2),
            ("policy.deleted", 3)
        ]
    );
}

async fn every_write_leaves_an_audit_event(store: TestStore) {
    let ctx = organization(&store).await;
    let created = store.create_policy(&ctx, &spec("encrypt")).await.unwrap();
    let mut changed = spec("encrypt");
    changed.severity = Severity::Low;
    store
        .update_policy(&ctx, &created.id, 1, &changed)
        .await
        .unwrap();
    store.delete_policy(&ctx, &created.id, None).await.unwrap();

    let events = store
        .list_audit_events(&ctx.organization_id, &AuditQuery::default())
        .await
        .unwrap();

    let actions: Vec<_> = events
        .items
        .iter()
        .map(|event| event.action.as_str())
        .collect();
    assert_eq!(
        actions,
        vec!["policy.created", "policy.updated", "policy.deleted"]
    );
    assert_eq!(
        events.items[1].changes,
        serde_json::json!({"severity": {"from": "HIGH", "to": "LOW"}})
    );
    assert!(events
        .items
        .iter()
        .all(|event| event.actor == "key_test:ci" && event.request_id == "req_1"));
}

async fn filters_combine_and_tags_need_every_tag(store: TestStore) {
    let ctx = organization(&store).await;
    let mut both = spec("both");
    both.tags = vec!["security".into(), "networking".into()];
    let mut vpc = spec("vpc");
    vpc.resource_type = "AWS::EC2::VPC".into();
    vpc.tags = vec!["security".into(), "networking".into()];
    let mut disabled = spec("disabled");
    disabled.enabled = false;
    for policy in [&both, &vpc, &disabled, &spec("security-only")] {
        store.create_policy(&ctx, policy).await.unwrap();
    }

    let mut filtered = query(10);
    filtered.tags = vec!["networking".into(), "security".into()];
    filtered.resource_type = Some("AWS::S3::Bucket".into());
    let names = |page: Page<policycortex_engine::Policy>| -> Vec<String> {
        page.items.into_iter().map(|policy| policy.name).collect()
    };

    assert_eq!(
        names(
            store
                .list_policies(&ctx.organization_id, &filtered)
                .await
                .unwrap()
        ),
        vec!["both"]
    );
    let mut only_disabled = query(10);
    only_disabled.enabled = Some(false);
    assert_eq!(
        names(
            store
                .list_policies(&ctx.organization_id, &only_disabled)
                .await
                .unwrap()
        ),
        vec!["disabled"]
    );
    let mut low = query(10);
    low.severity = Some(Severity::Low);
    assert!(store
        .list_policies(&ctx.organization_id, &low)
        .await
        .unwrap()
        .items
        .is_empty());
}

async fn offset_paging_reports_total_and_has_more(store: TestStore) {
    let ctx = organization(&store).await;
    for index in 0..5 {
        store
            .create_policy(&ctx, &spec(&format!("p{index}")))
            .await
            .unwrap();
    }
    let mut second_page = query(2);
    second_page.start = PageStart::Offset(2);
    let mut last_page = query(2);
    last_page.start = PageStart::Offset(4);

    let second = store
        .list_policies(&ctx.organization_id, &second_page)
        .await
        .unwrap();
    let last = store
        .list_policies(&ctx.organization_id, &last_page)
        .await
        .unwrap();

    assert_eq!(second.total, Some(5));
    assert!(second.has_more && second.next_cursor.is_some());
    let names: Vec<_> = second
        .items
        .iter()
        .map(|policy| policy.name.as_str())
        .collect();
    assert_eq!(names, vec!["p2", "p3"]);
    assert_eq!(last.items.len(), 1);
    assert!(!last.has_more && last.next_cursor.is_none());
}

async fn a_cursor_walk_sees_every_row_once_while_rows_come_and_go(store: TestStore) {
    let ctx = organization(&store).await;
    let mut originals = Vec::new();
    for index in 0..9 {
        originals.push(
            store
                .create_policy(&ctx, &spec(&format!("orig{index}")))
                .await
                .unwrap(),
        );
    }

    let mut seen = Vec::new();
    let mut page_query = query(2);
    page_query.sort_by = SortField::Name;
    let mut round = 0;
    loop {
        let page = store
            .list_policies(&ctx.organization_id, &page_query)
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|policy| policy.name.clone()));
        // Between pages, another client inserts a row and deletes one not yet seen.
        store
            .create_policy(&ctx, &spec(&format!("new{round}")))
            .await
            .unwrap();
        round += 1;
        let Some(cursor) = page.next_cursor else {
            break;
        };
        page_query.start = PageStart::After(Cursor::decode(&cursor).unwrap());
    }

    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a row was seen twice: {seen:?}");
    for original in &originals {
        assert!(
            seen.contains(&original.name),
            "{} was skipped: {seen:?}",
            original.name
        );
    }
}

async fn sorting_by_severity_and_name_follows_the_order(store: TestStore) {
    let ctx = organization(&store).await;
    for (name, severity) in [
        ("b", Severity::Low),
        ("a", Severity::Critical),
        ("c", Severity::Medium),
    ] {
        let mut policy = spec(name);
        policy.severity = severity;
        store.create_policy(&ctx, &policy).await.unwrap();
    }
    let mut by_severity = query(10);
    by_severity.sort_by = SortField::Severity;
    by_severity.order = SortOrder::Desc;
    let mut by_name = query(10);
    by_name.sort_by = SortField::Name;

    let severity_names: Vec<_> = store
        .list_policies(&ctx.organization_id, &by_severity)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|policy| policy.name)
        .collect();
    let names: Vec<_> = store
        .list_policies(&ctx.organization_id, &by_name)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|policy| policy.name)
        .collect();

    assert_eq!(severity_names, vec!["a", "c", "b"]);
    assert_eq!(names, vec!["a", "b", "c"]);
}

async fn the_policy_revision_grows_with_every_write(store: TestStore) {
    let ctx = organization(&store).await;
    let start = store.policy_revision(&ctx.organization_id).await.unwrap();

    let created = store.create_policy(&ctx, &spec("encrypt")).await.unwrap();
    let after_create = store.policy_revision(&ctx.organization_id).await.unwrap();
    store.delete_policy(&ctx, &created.id, None).await.unwrap();
    let after_delete = store.policy_revision(&ctx.organization_id).await.unwrap();

    assert!(start < after_create && after_create < after_delete);
}

async fn api_keys_are_found_by_hash_and_revoked(store: TestStore) {
    let ctx = organization(&store).await;
    let key = NewApiKey {
        organization_id: ctx.organization_id.clone(),
        name: "ci".into(),
        scopes: vec![Scope::PoliciesRead, Scope::EvaluationsRun],
        key_hash: "hash-1".into(),
        prefix: "pc_abcd".into(),
        expires_at: None,
    };

    let created = store.create_api_key(&ctx, key).await.unwrap();
    let found = store.find_api_key("hash-1").await.unwrap().unwrap();
    store.revoke_api_key(&ctx, &created.id).await.unwrap();
    let revoked = store.find_api_key("hash-1").await.unwrap().unwrap();

    assert_eq!(
        found.scopes,
        vec![Scope::PoliciesRead, Scope::EvaluationsRun]
    );
    assert!(found.is_active(chrono::Utc::now()));
    assert!(!revoked.is_active(chrono::Utc::now()));
    assert!(store.count_api_keys().await.unwrap() >= 1);
    assert!(matches!(
        store.revoke_api_key(&ctx, &created.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn an_idempotency_key_is_claimed_once_then_answered(store: TestStore) {
    let ctx = organization(&store).await;
    let org = ctx.organization_id.as_str();
    let answer = IdempotentAnswer {
        request_hash: "h".into(),
        status: 201,
        body: "{}".into(),
    };

    let first = store
        .claim_idempotent(org, "k1", "h", LASTING)
        .await
        .unwrap();
    let while_running = store
        .claim_idempotent(org, "k1", "h", LASTING)
        .await
        .unwrap();
    store.complete_idempotent(org, "k1", &answer).await.unwrap();
    let after = store
        .claim_idempotent(org, "k1", "h", LASTING)
        .await
        .unwrap();
    let elsewhere = store
        .claim_idempotent("org_other", "k1", "h", LASTING)
        .await;

    assert_eq!(first, IdempotencyClaim::Claimed);
    let IdempotencyClaim::Taken(pending) = while_running else {
        panic!("{while_running:?}")
    };
    assert!(pending.is_pending());
    assert_eq!(after, IdempotencyClaim::Taken(answer.clone()));
    assert_eq!(
        store.find_idempotent(org, "k1").await.unwrap(),
        Some(answer)
    );
    assert_eq!(elsewhere.unwrap(), IdempotencyClaim::Claimed);
}

async fn a_released_idempotency_key_can_be_claimed_again(store: TestStore) {
    let ctx = organization(&store).await;
    let org = ctx.organization_id.as_str();

    store
        .claim_idempotent(org, "k1", "h", LASTING)
        .await
        .unwrap();
    store.release_idempotent(org, "k1").await.unwrap();

    assert_eq!(
        store
            .claim_idempotent(org, "k1", "h", LASTING)
            .await
            .unwrap(),
        IdempotencyClaim::Claimed
    );
}

/// Idempotency lifetimes no test outlives.
const LASTING: IdempotencyLifetimes = IdempotencyLifetimes {
    pending: std::time::Duration::from_secs(3600),
    answered: std::time::Duration::from_secs(24 * 3600),
};

/// Idempotency lifetimes short enough to wait out.
const BRIEF: IdempotencyLifetimes = IdempotencyLifetimes {
    pending: std::time::Duration::from_millis(200),
    answered: std::time::Duration::from_millis(200),
};

async fn a_reservation_pending_past_its_lifetime_is_taken_over(store: TestStore) {
    let ctx = organization(&store).await;
    let org = ctx.organization_id.as_str();
    store.claim_idempotent(org, "k1", "h", BRIEF).await.unwrap();
    let too_soon = store.claim_idempotent(org, "k1", "h", BRIEF).await.unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let later = store
        .claim_idempotent(org, "k1", "h2", BRIEF)
        .await
        .unwrap();

    assert!(matches!(too_soon, IdempotencyClaim::Taken(ref pending) if pending.is_pending()));
    assert_eq!(later, IdempotencyClaim::Claimed);
    let row = store.find_idempotent(org, "k1").await.unwrap().unwrap();
    assert_eq!(
        row.request_hash, "h2",
        "the new claim's request owns the key"
    );
}

async fn an_answer_past_its_retention_is_forgotten_and_its_key_claimed_anew(store: TestStore) {
    let ctx = organization(&store).await;
    let org = ctx.organization_id.as_str();
    let answer = IdempotentAnswer {
        request_hash: "h".into(),
        status: 201,
        body: "{}".into(),
    };
    store
        .claim_idempotent(org, "old", "h", BRIEF)
        .await
        .unwrap();
    store
        .complete_idempotent(org, "old", &answer)
        .await
        .unwrap();
    store.claim_idempotent(org, "k1", "h", BRIEF).await.unwrap();
    store.complete_idempotent(org, "k1", &answer).await.unwrap();
    let replayed = store.claim_idempotent(org, "k1", "h", BRIEF).await.unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let expired = store.claim_idempotent(org, "k1", "h", BRIEF).await.unwrap();

    assert_eq!(replayed, IdempotencyClaim::Taken(answer));
    assert_eq!(expired, IdempotencyClaim::Claimed);
    assert_eq!(
        store.find_idempotent(org, "old").await.unwrap(),
        None,
        "the claim deleted the organization's other expired answers"
    );
}

async fn concurrent_claims_of_one_key_let_exactly_one_run(store: TestStore) {
    let ctx = organization(&store).await;
    let mut claims = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (shared, org) = ((*store).clone(), ctx.organization_id.clone());
        claims.spawn(async move {
            shared
                .claim_idempotent(&org, "k1", "h", LASTING)
                .await
                .unwrap()
        });
    }

    let results = claims.join_all().await;

    let claimed = results
        .iter()
        .filter(|claim| **claim == IdempotencyClaim::Claimed)
        .count();
    assert_eq!(claimed, 1, "{results:?}");
}

async fn concurrent_creates_never_overshoot_the_policy_quota(store: TestStore) {
    let ctx = organization(&store).await;
    let mut creates = tokio::task::JoinSet::new();
    for index in 0..8 {
        let (shared, ctx) = ((*store).clone(), ctx.clone());
        creates.spawn(async move {
            shared
                .create_policy_within(&ctx, &spec(&format!("p{index}")), 3)
                .await
        });
    }

    let results = creates.join_all().await;

    let created = results.iter().filter(|result| result.is_ok()).count();
    let refused = results
        .iter()
        .filter(|result| matches!(result, Err(StoreError::Conflict(_))))
        .count();
    assert_eq!((created, refused), (3, 5));
    assert_eq!(
        store
            .all_policies(&ctx.organization_id)
            .await
            .unwrap()
            .len(),
        3
    );
}
