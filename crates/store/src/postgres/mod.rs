//! The shared store: a PostgreSQL database that several `serve` processes may use at once.
//!
//! Every guarantee of the SQLite store holds across processes here, by these means:
//!
//! - Each policy write is one transaction together with its version row, its audit event
//!   and the bump of the organization's policy revision.
//! - Every write transaction first locks its organization's row, so the writes of one
//!   organization commit one at a time and in the order of their sequence numbers: a
//!   reader paging versions or audit events by sequence never sees a smaller number
//!   commit behind a larger one it already passed. Writes of different organizations do
//!   not wait for each other.
//! - Updates and deletes lock the policy row (`FOR UPDATE`) before comparing versions,
//!   and the unique index on `(organization_id, name)` settles two creates of one name.
//! - Migrations run under sqlx's PostgreSQL advisory lock, so several servers starting
//!   at once against one empty database are safe: one migrates, the others wait and then
//!   find nothing left to do.
//!
//! Timestamps are `timestamptz` (microseconds, like the store's clock); tags, scopes and compliance
//! frameworks are `text[]`; rules, stored policies and audit changes are `jsonb`, written
//! and read as JSON text. Names sort by code point (`COLLATE "C"`).
//!
//! This module holds the store, how it connects, and its [`Store`] methods; `locks` takes
//! the row locks above, `rows` decodes rows, `history` records the side effects of
//! writes, and `listing` builds the SQL of lists.

mod history;
mod keys;
mod listing;
mod locks;
mod rows;

use std::str::FromStr;

use async_trait::async_trait;
use policycortex_engine::{Policy, PolicySpec};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder, Row, Transaction};

use self::history::{bump_policy_revision, insert_audit_event, record_policy_change};
use self::keys::{insert_api_key, insert_organization};
use self::listing::{
    audit_events_select, push_after_cursor, push_order_and_bounds, push_policy_filters,
};
use self::locks::{lock_organization, lock_policy};
use self::rows::{
    api_key_from_row, audit_event_from_row, policy_from_row, version_from_row, POLICY_COLUMNS,
};
use crate::common::*;
use crate::ids::new_id;
use crate::model::*;
use crate::{Store, StoreError, StoreResult, WriteContext};

static MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PostgresStore {
    /// Connections for every read and write, each with the configured `statement_timeout`.
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database `url` names and migrates it.
    ///
    /// The migrator holds a PostgreSQL advisory lock while it works, so servers that
    /// start together against one database migrate it once, one after the other.
    pub async fn open(url: &str, options: &StoreOptions) -> StoreResult<Self> {
        let connect = connect_options(url, options)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(map_error)?;

        MIGRATIONS.run(&pool).await.map_err(map_migrate_error)?;
        Ok(Self { pool })
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(map_error)
    }
}

/// How every connection of the pool connects: to `url`, with the statement timeout set
/// for the whole session.
fn connect_options(url: &str, options: &StoreOptions) -> StoreResult<PgConnectOptions> {
    let timeout_ms = options.statement_timeout.as_millis();
    Ok(PgConnectOptions::from_str(url)
        .map_err(map_error)?
        .application_name("policycortex")
        .options([("statement_timeout", format!("{timeout_ms}ms"))]))
}

/// Sorts migration failures like other database failures where they are ones.
fn map_migrate_error(error: MigrateError) -> StoreError {
    match error {
        MigrateError::Execute(error) => map_error(error),
        other => StoreError::Internal(other.to_string()),
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
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
            .fetch_one(&self.pool)
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
             JOIN organizations o ON o.id = k.organization_id WHERE k.key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_error)?;
        let Some(row) = row else { return Ok(None) };
        let revision = row.try_get("policy_revision").map_err(map_error)?;
        Ok(Some((api_key_from_row(&row)?, revision)))
    }

    async fn list_api_keys(&self, organization_id: &str) -> StoreResult<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT * FROM api_keys WHERE organization_id = $1 \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_error)?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_api_key(&self, ctx: &WriteContext, id: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        lock_organization(&mut tx, &ctx.organization_id).await?;
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 \
             WHERE organization_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now())
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

        // Bumping the revision locks the organization's row, so the count below stays true
        // until this transaction ends.
        let mut tx = self.begin().await?;
        bump_policy_revision(&mut tx, &ctx.organization_id).await?;
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM policies WHERE organization_id = $1")
                .bind(&ctx.organization_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_error)?;
        if u64::try_from(held).unwrap_or(0) >= max_policies {
            return Err(quota_reached(max_policies));
        }
        let inserted = sqlx::query(
            "INSERT INTO policies (organization_id, id, name, description, resource_type, \
             severity, enabled, rules, compliance_frameworks, auto_remediation, \
             remediation_action, tags, version, created_at, updated_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13, $14, $15, \
             $16)",
        )
        .bind(&ctx.organization_id)
        .bind(&policy.id)
        .bind(&policy.name)
        .bind(&policy.description)
        .bind(&policy.resource_type)
        .bind(policy.severity.rank())
        .bind(policy.enabled)
        .bind(to_json_text(&policy.rules)?)
        .bind(&policy.compliance_frameworks)
        .bind(policy.auto_remediation)
        .bind(&policy.remediation_action)
        .bind(&policy.tags)
        .bind(policy.version)
        .bind(policy.created_at)
        .bind(policy.updated_at)
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
            format!("SELECT {POLICY_COLUMNS} FROM policies WHERE organization_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(organization_id)
            .bind(id)
            .fetch_optional(&self.pool)
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
        bump_policy_revision(&mut tx, &ctx.organization_id).await?;
        let before = lock_policy(&mut tx, &ctx.organization_id, id).await?;
        if before.version != expected_version {
            return Err(StoreError::VersionMismatch {
                expected: expected_version,
                actual: before.version,
            });
        }
        let after = updated_policy(&before, spec);

        let updated = sqlx::query(
            "UPDATE policies SET name = $1, description = $2, resource_type = $3, \
             severity = $4, enabled = $5, rules = $6::jsonb, compliance_frameworks = $7, \
             auto_remediation = $8, remediation_action = $9, tags = $10, version = $11, \
             updated_at = $12 WHERE organization_id = $13 AND id = $14",
        )
        .bind(&after.name)
        .bind(&after.description)
        .bind(&after.resource_type)
        .bind(after.severity.rank())
        .bind(after.enabled)
        .bind(to_json_text(&after.rules)?)
        .bind(&after.compliance_frameworks)
        .bind(after.auto_remediation)
        .bind(&after.remediation_action)
        .bind(&after.tags)
        .bind(after.version)
        .bind(after.updated_at)
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
        bump_policy_revision(&mut tx, &ctx.organization_id).await?;
        let mut deleted = lock_policy(&mut tx, &ctx.organization_id, id).await?;
        if let Some(expected) = expected_version.filter(|expected| *expected != deleted.version) {
            return Err(StoreError::VersionMismatch {
                expected,
                actual: deleted.version,
            });
        }

        sqlx::query("DELETE FROM policies WHERE organization_id = $1 AND id = $2")
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
            .fetch_one(&self.pool)
            .await
            .map_err(map_error)?;

        let mut select = QueryBuilder::new(format!("SELECT {POLICY_COLUMNS} FROM policies"));
        push_policy_filters(&mut select, organization_id, query);
        push_after_cursor(&mut select, query);
        push_order_and_bounds(&mut select, query);

        let rows = select
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(map_error)?;
        let policies = rows
            .iter()
            .map(policy_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(into_page(policies, query, total as u64))
    }

    async fn all_policies(&self, organization_id: &str) -> StoreResult<Vec<Policy>> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM policies WHERE organization_id = $1");
        let rows = sqlx::query(&sql)
            .bind(organization_id)
            .fetch_all(&self.pool)
            .await
            .map_err(map_error)?;
        rows.iter().map(policy_from_row).collect()
    }

    async fn policy_revision(&self, organization_id: &str) -> StoreResult<i64> {
        let revision =
            sqlx::query_scalar("SELECT policy_revision FROM organizations WHERE id = $1")
                .bind(organization_id)
                .fetch_optional(&self.pool)
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
            "SELECT sequence, policy_id, version, action, policy::text AS policy, actor, \
             request_id, created_at FROM policy_versions \
             WHERE organization_id = $1 AND policy_id = $2 AND sequence > $3 \
             ORDER BY sequence LIMIT $4",
        )
        .bind(organization_id)
        .bind(policy_id)
        .bind(page.after.unwrap_or(0))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
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
             WHERE organization_id = $1 AND key = $2",
        )
        .bind(organization_id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_error)?;
        let Some(row) = row else { return Ok(None) };
        let status: i32 = row.try_get("status").map_err(map_error)?;
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
            "DELETE FROM idempotent_answers WHERE organization_id = $1 \
             AND ((status = 0 AND created_at < $2) OR (status <> 0 AND created_at < $3))",
        )
        .bind(organization_id)
        .bind(claimed_at - lifetimes.pending)
        .bind(claimed_at - lifetimes.answered)
        .execute(&self.pool)
        .await
        .map_err(map_error)?;

        let inserted = sqlx::query(
            "INSERT INTO idempotent_answers (organization_id, key, request_hash, status, body, \
             created_at) VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT DO NOTHING",
        )
        .bind(organization_id)
        .bind(key)
        .bind(request_hash)
        .bind(claimed_at)
        .execute(&self.pool)
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
            "UPDATE idempotent_answers SET status = $1, body = $2 \
             WHERE organization_id = $3 AND key = $4 AND status = 0",
        )
        .bind(i32::from(answer.status))
        .bind(&answer.body)
        .bind(organization_id)
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(())
    }

    async fn release_idempotent(&self, organization_id: &str, key: &str) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM idempotent_answers \
             WHERE organization_id = $1 AND key = $2 AND status = 0",
        )
        .bind(organization_id)
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
