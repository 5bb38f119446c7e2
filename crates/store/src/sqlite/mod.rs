//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so that an
//! acknowledged write survives a crash or a power cut.
//!
//! Writes go through a pool of one connection, so they queue in the process instead of
//! failing with "database is locked"; reads use a pool of their own and run beside them.
//!
//! This module holds the store and its [`Store`] methods; `rows` decodes rows, `history`
//! records the side effects of writes, and `listing` builds the SQL of lists.

mod history;
mod keys;
mod listing;
mod rows;

use std::str::FromStr;

use async_trait::async_trait;
use policycortex_engine::{Policy, PolicySpec};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use self::history::{insert_audit_event, record_policy_change};
use self::keys::{insert_api_key, insert_organization};
use self::listing::{
    audit_events_select, push_after_cursor, push_order_and_bounds, push_policy_filters,
};
use self::rows::{
    api_key_from_row, audit_event_from_row, policy_from_row, policy_in, version_from_row,
    POLICY_COLUMNS,
};
use crate::common::*;
use crate::ids::new_id;
use crate::model::*;
use crate::{Store, StoreError, StoreResult, WriteContext};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: every write, in order.
    writer: SqlitePool,
    /// Several connections for reads, which WAL lets run beside the writer.
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &str, options: &StoreOptions) -> StoreResult<Self> {
        let connect = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(map_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.statement_timeout);

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(map_error)?;
        MIGRATIONS
            .run(&writer)
            .await
            .map_err(|error| StoreError::Internal(error.to_string()))?;

        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.read_only(true))
            .await
            .map_err(map_error)?;
        Ok(Self { writer, reader })
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.writer.begin().await.map_err(map_error)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn create_organization_with_id(&self, id: &str, name: &str) -> StoreResult<Organization> {
        let organization = Organization::new(id.to_owned(), name);
        let mut tx = self.begin().await?;
        insert_organization(&mut tx, &organization).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(organization)
    }

    async fn count_api_keys(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
            .fetch_one(&self.reader)
            .await
            .map_err(map_error)
    }

    async fn create_api_key(&self, ctx: &WriteContext, key: NewApiKey) -> StoreResult<ApiKey> {
        let mut tx = self.begin().await?;
        let stored = insert_api_key(&mut tx, ctx, key).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(stored)
    }

    async fn create_organization_with_key(
        &self,
        ctx: &WriteContext,
        name: &str,
        mut key: NewApiKey,
    ) -> StoreResult<(Organization, ApiKey)> {
        let organization = Organization::new(new_id("org"), name);
        key.organization_id = organization.id.clone();

        let mut tx = self.begin().await?;
        insert_organization(&mut tx, &organization).await?;
        let in_new_organization = WriteContext {
            organization_id: organization.id.clone(),
            ..ctx.clone()
        };
        let stored = insert_api_key(&mut tx, &in_new_organization, key).await?;
        let changes = serde_json::json!({ "name": organization.name, "api_key_id": stored.id });
        insert_audit_event(
            &mut tx,
            ctx,
            "organization.created",
            "organization",
            &organization.id,
            changes,
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok((organization, stored))
    }

    async fn find_api_key_with_revision(
        &self,
        key_hash: &str,
    ) -> StoreResult<Option<(ApiKey, i64)>> {
        let row = sqlx::query(
            "SELECT k.*, o.policy_revision FROM api_keys k \
             JOIN organizations o ON o.id = k.organization_id WHERE k.key_hash = ?",
        )
        .bind(key_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(map_error)?;
        let Some(row) = row else { return Ok(None) };
        let revision = row.try_get("policy_revision").map_err(map_error)?;
        Ok(Some((api_key_from_row(&row)?, revision)))
    }

    async fn list_api_keys(&self, organization_id: &str) -> StoreResult<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT * FROM api_keys WHERE organization_id = ? ORDER BY created_at DESC, id DESC",
        )
        .bind(organization_id)
        .fetch_all(&self.reader)
        .await
        .map_err(map_error)?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_api_key(&self, ctx: &WriteContext, id: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at = ? \
             WHERE organization_id = ? AND id = ? AND revoked_at IS NULL",
        )
        .bind(timestamp_text(now()))
        .bind(&ctx.organization_id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;
        if revoked.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit_event(
            &mut tx,
            ctx,
            "api_key.revoked",
            "api_key",
            id,
            serde_json::Value::Null,
        )
        .await?;
        tx.commit().await.map_err(map_error)
    }

    async fn create_policy_within(
        &self,
        ctx: &WriteContext,
        spec: &PolicySpec,
        max_policies: u64,
    ) -> StoreResult<Policy> {
        let policy = Policy::from_spec(new_id("pol"), spec.clone(), now(), ctx.actor.clone());

        // The single writer connection serializes writes, so the count stays true until
        // the insert commits.
        let mut tx = self.begin().await?;
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM policies WHERE organization_id = ?")
                .bind(&ctx.organization_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_error)?;
        if u64::try_from(held).unwrap_or(0) >= max_policies {
            return Err(quota_reached(max_policies));
        }
        let inserted = sqlx::query(&format!(
            "INSERT INTO policies (organization_id, {POLICY_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&ctx.organization_id)
        .bind(&policy.id)
        .bind(&policy.name)
        .bind(&policy.description)
        .bind(&policy.resource_type)
        .bind(policy.severity.rank())
        .bind(policy.enabled)
        .bind(to_json_text(&policy.rules)?)
        .bind(to_json_text(&policy.compliance_frameworks)?)
        .bind(policy.auto_remediation)
        .bind(&policy.remediation_action)
        .bind(to_json_text(&policy.tags)?)
        .bind(policy.version)
        .bind(timestamp_text(policy.created_at))
        .bind(timestamp_text(policy.updated_at))
        .bind(&policy.created_by)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(error) if is_unique_violation(&error) => return Err(name_taken(&policy.name)),
            other => other.map_err(map_error)?,
        };
        record_policy_change(&mut tx, ctx, "policy.created", &policy, policy.spec_view()).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(policy)
    }

    async fn get_policy(&self, organization_id: &str, id: &str) -> StoreResult<Option<Policy>> {
        let sql =
            format!("SELECT {POLICY_COLUMNS} FROM policies WHERE organization_id = ? AND id = ?");
        let row = sqlx::query(&sql)
            .bind(organization_id)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_error)?;
        row.as_ref().map(policy_from_row).transpose()
    }

    async fn update_policy(
        &self,
        ctx: &WriteContext,
        id: &str,
        expected_version: i64,
        spec: &PolicySpec,
    ) -> StoreResult<Policy> {
        let mut tx = self.begin().await?;
        let before = policy_in(&mut tx, &ctx.organization_id, id).await?;
        if before.version != expected_version {
            return Err(StoreError::VersionMismatch {
                expected: expected_version,
                actual: before.version,
            });
        }
        let after = updated_policy(&before, spec);

        let updated = sqlx::query(
            "UPDATE policies SET name = ?, description = ?, resource_type = ?, severity = ?, \
             enabled = ?, rules = ?, compliance_frameworks = ?, auto_remediation = ?, \
             remediation_action = ?, tags = ?, version = ?, updated_at = ? \
             WHERE organization_id = ? AND id = ?",
        )
        .bind(&after.name)
        .bind(&after.description)
        .bind(&after.resource_type)
        .bind(after.severity.rank())
        .bind(after.enabled)
        .bind(to_json_text(&after.rules)?)
        .bind(to_json_text(&after.compliance_frameworks)?)
        .bind(after.auto_remediation)
        .bind(&after.remediation_action)
        .bind(to_json_text(&after.tags)?)
        .bind(after.version)
        .bind(timestamp_text(after.updated_at))
        .bind(&ctx.organization_id)
        .bind(id)
        .execute(&mut *tx)
        .await;
        match updated {
            Err(error) if is_unique_violation(&error) => return Err(name_taken(&after.name)),
            other => other.map_err(map_error)?,
        };
        let changes = policy_changes(&before, &after);
        record_policy_change(&mut tx, ctx, "policy.updated", &after, changes).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(after)
    }

    async fn delete_policy(
        &self,
        ctx: &WriteContext,
        id: &str,
        expected_version: Option<i64>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let mut deleted = policy_in(&mut tx, &ctx.organization_id, id).await?;
        if let Some(expected) = expected_version.filter(|expected| *expected != deleted.version) {
            return Err(StoreError::VersionMismatch {
                expected,
                actual: deleted.version,
            });
        }
        sqlx::query("DELETE FROM policies WHERE organization_id = ? AND id = ?")
            .bind(&ctx.organization_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        deleted.version += 1;
        record_policy_change(
            &mut tx,
            ctx,
            "policy.deleted",
            &deleted,
            serde_json::Value::Null,
        )
        .await?;
        tx.commit().await.map_err(map_error)
    }

    async fn list_policies(
        &self,
        organization_id: &str,
        query: &PolicyQuery,
    ) -> StoreResult<Page<Policy>> {
        let mut count = QueryBuilder::new("SELECT COUNT(*) FROM policies");
        push_policy_filters(&mut count, organization_id, query);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.reader)
            .await
            .map_err(map_error)?;

        let mut select = QueryBuilder::new(format!("SELECT {POLICY_COLUMNS} FROM policies"));
        push_policy_filters(&mut select, organization_id, query);
        push_after_cursor(&mut select, query);
        push_order_and_bounds(&mut select, query);
        let rows = select
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(map_error)?;
        let policies = rows
            .iter()
            .map(policy_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(into_page(policies, query, total as u64))
    }

    async fn all_policies(&self, organization_id: &str) -> StoreResult<Vec<Policy>> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM policies WHERE organization_id = ?");
        let rows = sqlx::query(&sql)
            .bind(organization_id)
            .fetch_all(&self.reader)
            .await
            .map_err(map_error)?;
        rows.iter().map(policy_from_row).collect()
    }

    async fn policy_revision(&self, organization_id: &str) -> StoreResult<i64> {
        let revision = sqlx::query_scalar("SELECT policy_revision FROM organizations WHERE id = ?")
            .bind(organization_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_error)?;
        Ok(revision.unwrap_or(0))
    }

    async fn list_policy_versions(
        &self,
        organization_id: &str,
        policy_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<PolicyVersion>> {
        let rows = sqlx::query(
            "SELECT * FROM policy_versions WHERE organization_id = ? AND policy_id = ? \
             AND sequence > ? ORDER BY sequence LIMIT ?",
        )
        .bind(organization_id)
        .bind(policy_id)
        .bind(page.after.unwrap_or(0))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.reader)
        .await
        .map_err(map_error)?;
        let versions = rows
            .iter()
            .map(version_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(sequence_page(versions, page.limit))
    }

    async fn list_audit_events(
        &self,
        organization_id: &str,
        query: &AuditQuery,
    ) -> StoreResult<Page<AuditEvent>> {
        let page = query.page.clone().unwrap_or(PageRequest {
            limit: 50,
            after: None,
        });
        let mut select = audit_events_select(organization_id, query, &page);
        let rows = select
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(map_error)?;
        let events = rows
            .iter()
            .map(audit_event_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(sequence_page(events, page.limit))
    }

    async fn find_idempotent(
        &self,
        organization_id: &str,
        key: &str,
    ) -> StoreResult<Option<IdempotentAnswer>> {
        let row = sqlx::query(
            "SELECT request_hash, status, body FROM idempotent_answers \
             WHERE organization_id = ? AND key = ?",
        )
        .bind(organization_id)
        .bind(key)
        .fetch_optional(&self.reader)
        .await
        .map_err(map_error)?;
        let Some(row) = row else { return Ok(None) };
        let status: i64 = row.try_get("status").map_err(map_error)?;
        Ok(Some(IdempotentAnswer {
            request_hash: row.try_get("request_hash").map_err(map_error)?,
            status: u16::try_from(status).unwrap_or(500),
            body: row.try_get("body").map_err(map_error)?,
        }))
    }

    async fn claim_idempotent(
        &self,
        organization_id: &str,
        key: &str,
        request_hash: &str,
        lifetimes: IdempotencyLifetimes,
    ) -> StoreResult<IdempotencyClaim> {
        let claimed_at = now();
        sqlx::query(
            "DELETE FROM idempotent_answers WHERE organization_id = ? \
             AND ((status = 0 AND created_at < ?) OR (status <> 0 AND created_at < ?))",
        )
        .bind(organization_id)
        .bind(timestamp_text(claimed_at - lifetimes.pending))
        .bind(timestamp_text(claimed_at - lifetimes.answered))
        .execute(&self.writer)
        .await
        .map_err(map_error)?;

        let inserted = sqlx::query(
            "INSERT INTO idempotent_answers (organization_id, key, request_hash, status, body, \
             created_at) VALUES (?, ?, ?, 0, '', ?) ON CONFLICT DO NOTHING",
        )
        .bind(organization_id)
        .bind(key)
        .bind(request_hash)
        .bind(timestamp_text(claimed_at))
        .execute(&self.writer)
        .await
        .map_err(map_error)?;
        if inserted.rows_affected() == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }

        match self.find_idempotent(organization_id, key).await? {
            Some(answer) => Ok(IdempotencyClaim::Taken(answer)),
            // Released between the two statements: the caller tries again.
            None => Ok(IdempotencyClaim::Taken(IdempotentAnswer::pending(
                request_hash,
            ))),
        }
    }

    async fn complete_idempotent(
        &self,
        organization_id: &str,
        key: &str,
        answer: &IdempotentAnswer,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE idempotent_answers SET status = ?, body = ? \
             WHERE organization_id = ? AND key = ? AND status = 0",
        )
        .bind(i64::from(answer.status))
        .bind(&answer.body)
        .bind(organization_id)
        .bind(key)
        .execute(&self.writer)
        .await
        .map_err(map_error)?;
        Ok(())
    }

    async fn release_idempotent(&self, organization_id: &str, key: &str) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM idempotent_answers \
             WHERE organization_id = ? AND key = ? AND status = 0",
        )
        .bind(organization_id)
        .bind(key)
        .execute(&self.writer)
        .await
        .map_err(map_error)?;
        Ok(())
    }
}
