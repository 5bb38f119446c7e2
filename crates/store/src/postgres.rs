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
//! Timestamps are `timestamptz` (microseconds, like [`now`]); tags, scopes and compliance
//! frameworks are `text[]`; rules, stored policies and audit changes are `jsonb`, written
//! and read as JSON text. Names sort by code point (`COLLATE "C"`).

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use policycortex_engine::{Policy, PolicySpec, Severity};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row, Transaction};

use crate::common::*;
use crate::cursor::SortKey;
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

/// The columns of a policy row as [`policy_from_row`] reads them.
const POLICY_COLUMNS: &str = "id, name, description, resource_type, severity, enabled, \
     rules::text AS rules, compliance_frameworks, auto_remediation, remediation_action, tags, \
     version, created_at, updated_at, created_by";

fn policy_from_row(row: &PgRow) -> StoreResult<Policy> {
    let severity: i16 = row.try_get("severity").map_err(map_error)?;
    let rules: String = row.try_get("rules").map_err(map_error)?;
    Ok(Policy {
        id: row.try_get("id").map_err(map_error)?,
        name: row.try_get("name").map_err(map_error)?,
        description: row.try_get("description").map_err(map_error)?,
        resource_type: row.try_get("resource_type").map_err(map_error)?,
        severity: Severity::from_rank(i64::from(severity))
            .ok_or_else(|| StoreError::Internal(format!("bad stored severity {severity}")))?,
        enabled: row.try_get("enabled").map_err(map_error)?,
        rules: from_json_text(&rules)?,
        compliance_frameworks: row.try_get("compliance_frameworks").map_err(map_error)?,
        auto_remediation: row.try_get("auto_remediation").map_err(map_error)?,
        remediation_action: row.try_get("remediation_action").map_err(map_error)?,
        tags: row.try_get("tags").map_err(map_error)?,
        version: row.try_get("version").map_err(map_error)?,
        created_at: row.try_get("created_at").map_err(map_error)?,
        updated_at: row.try_get("updated_at").map_err(map_error)?,
        created_by: row.try_get("created_by").map_err(map_error)?,
    })
}

fn api_key_from_row(row: &PgRow) -> StoreResult<ApiKey> {
    let scope_names: Vec<String> = row.try_get("scopes").map_err(map_error)?;
    Ok(ApiKey {
        id: row.try_get("id").map_err(map_error)?,
        organization_id: row.try_get("organization_id").map_err(map_error)?,
        name: row.try_get("name").map_err(map_error)?,
        scopes: scope_names
            .iter()
            .filter_map(|name| Scope::parse(name))
            .collect(),
        key_hash: row.try_get("key_hash").map_err(map_error)?,
        prefix: row.try_get("prefix").map_err(map_error)?,
        created_at: row.try_get("created_at").map_err(map_error)?,
        expires_at: row.try_get("expires_at").map_err(map_error)?,
        revoked_at: row.try_get("revoked_at").map_err(map_error)?,
    })
}

fn version_from_row(row: &PgRow) -> StoreResult<(i64, PolicyVersion)> {
    let policy: String = row.try_get("policy").map_err(map_error)?;
    let version = PolicyVersion {
        policy_id: row.try_get("policy_id").map_err(map_error)?,
        version: row.try_get("version").map_err(map_error)?,
        action: row.try_get("action").map_err(map_error)?,
        policy: from_json_text(&policy)?,
        actor: row.try_get("actor").map_err(map_error)?,
        request_id: row.try_get("request_id").map_err(map_error)?,
        created_at: row.try_get("created_at").map_err(map_error)?,
    };
    Ok((row.try_get("sequence").map_err(map_error)?, version))
}

fn audit_event_from_row(row: &PgRow) -> StoreResult<(i64, AuditEvent)> {
    let changes: String = row.try_get("changes").map_err(map_error)?;
    let event = AuditEvent {
        id: row.try_get("id").map_err(map_error)?,
        action: row.try_get("action").map_err(map_error)?,
        target_type: row.try_get("target_type").map_err(map_error)?,
        target_id: row.try_get("target_id").map_err(map_error)?,
        actor: row.try_get("actor").map_err(map_error)?,
        request_id: row.try_get("request_id").map_err(map_error)?,
        changes: from_json_text(&changes)?,
        created_at: row.try_get("created_at").map_err(map_error)?,
    };
    Ok((row.try_get("sequence").map_err(map_error)?, event))
}

/// Locks the organization's row for the rest of the transaction, so that the writes of
/// one organization take their sequence numbers and commit one at a time.
async fn lock_organization(
    tx: &mut Transaction<'static, Postgres>,
    organization_id: &str,
) -> StoreResult<()> {
    sqlx::query("SELECT 1 FROM organizations WHERE id = $1 FOR NO KEY UPDATE")
        .bind(organization_id)
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    Ok(())
}

/// Bumps the organization's policy revision; as an update, it also locks the row the way
/// [`lock_organization`] does. Policy writes call it first.
async fn bump_policy_revision(
    tx: &mut Transaction<'static, Postgres>,
    organization_id: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE organizations SET policy_revision = policy_revision + 1 WHERE id = $1")
        .bind(organization_id)
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    Ok(())
}

/// Reads one policy inside a write transaction and locks its row until the end of it.
async fn lock_policy(
    tx: &mut Transaction<'static, Postgres>,
    organization_id: &str,
    id: &str,
) -> StoreResult<Policy> {
    let sql = format!(
        "SELECT {POLICY_COLUMNS} FROM policies WHERE organization_id = $1 AND id = $2 \
         FOR UPDATE"
    );
    let row = sqlx::query(&sql)
        .bind(organization_id)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_error)?;
    row.as_ref()
        .map(policy_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

/// Records a policy's state after `action` and the matching audit event: with the
/// revision bump, the side effects of every policy write.
async fn record_policy_change(
    tx: &mut Transaction<'static, Postgres>,
    ctx: &WriteContext,
    action: &str,
    policy: &Policy,
    changes: serde_json::Value,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO policy_versions (organization_id, policy_id, version, action, policy, \
         actor, request_id, created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)",
    )
    .bind(&ctx.organization_id)
    .bind(&policy.id)
    .bind(policy.version)
    .bind(action)
    .bind(to_json_text(policy)?)
    .bind(&ctx.actor)
    .bind(&ctx.request_id)
    .bind(now())
    .execute(&mut **tx)
    .await
    .map_err(map_error)?;

    insert_audit_event(tx, ctx, action, "policy", &policy.id, changes).await
}

async fn insert_audit_event(
    tx: &mut Transaction<'static, Postgres>,
    ctx: &WriteContext,
    action: &str,
    target_type: &str,
    target_id: &str,
    changes: serde_json::Value,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, organization_id, action, target_type, target_id, actor, \
         request_id, changes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)",
    )
    .bind(new_id("evt"))
    .bind(&ctx.organization_id)
    .bind(action)
    .bind(target_type)
    .bind(target_id)
    .bind(&ctx.actor)
    .bind(&ctx.request_id)
    .bind(to_json_text(&changes)?)
    .bind(now())
    .execute(&mut **tx)
    .await
    .map_err(map_error)?;
    Ok(())
}

/// Appends the WHERE clause of a policy list: the organization and the filters.
fn push_policy_filters(
    sql: &mut QueryBuilder<'_, Postgres>,
    organization_id: &str,
    query: &PolicyQuery,
) {
    sql.push(" WHERE organization_id = ")
        .push_bind(organization_id.to_owned());
    if let Some(resource_type) = &query.resource_type {
        sql.push(" AND resource_type = ")
            .push_bind(resource_type.clone());
    }
    if let Some(severity) = query.severity {
        sql.push(" AND severity = ").push_bind(severity.rank());
    }
    if let Some(enabled) = query.enabled {
        sql.push(" AND enabled = ").push_bind(enabled);
    }
    if !query.tags.is_empty() {
        sql.push(" AND tags @> ").push_bind(query.tags.clone());
    }
}

/// A cursor's sort key, typed for its column.
enum KeyValue {
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
}

/// The cursor key as its column's type, or `None` when it does not fit the sort field
/// (no cursor this service issues is like that).
fn key_value(sort_by: SortField, key: &SortKey) -> Option<KeyValue> {
    match (sort_by, key) {
        (SortField::Severity, SortKey::Int(rank)) => Some(KeyValue::Int(*rank)),
        (SortField::Name, SortKey::Text(name)) => Some(KeyValue::Text(name.clone())),
        (SortField::CreatedAt | SortField::UpdatedAt, SortKey::Text(text)) => {
            parse_timestamp(text).ok().map(KeyValue::Time)
        }
        _ => None,
    }
}

fn push_key(sql: &mut QueryBuilder<'_, Postgres>, key: &KeyValue) {
    match key {
        KeyValue::Int(rank) => sql.push_bind(*rank),
        KeyValue::Text(name) => sql.push_bind(name.clone()),
        KeyValue::Time(time) => sql.push_bind(*time),
    };
}

/// Appends the keyset condition that starts a page strictly after the cursor's row. A
/// cursor whose key does not fit its sort field matches no row.
fn push_after_cursor(sql: &mut QueryBuilder<'_, Postgres>, query: &PolicyQuery) {
    let PageStart::After(cursor) = &query.start else {
        return;
    };
    let Some(key) = key_value(query.sort_by, &cursor.key) else {
        sql.push(" AND FALSE");
        return;
    };
    let column = query.sort_by.as_str();
    let beyond = match query.order {
        SortOrder::Asc => ">",
        SortOrder::Desc => "<",
    };

    sql.push(format!(" AND ({column} {beyond} "));
    push_key(sql, &key);
    sql.push(format!(" OR ({column} = "));
    push_key(sql, &key);
    sql.push(format!(" AND id {beyond} "))
        .push_bind(cursor.id.clone())
        .push("))");
}

/// `before` with the fields of `spec`, one version later.
fn updated_policy(before: &Policy, spec: &PolicySpec) -> Policy {
    Policy {
        name: spec.name.clone(),
        description: spec.description.clone(),
        resource_type: spec.resource_type.clone(),
        severity: spec.severity,
        enabled: spec.enabled,
        rules: spec.rules.clone(),
        compliance_frameworks: spec.compliance_frameworks.clone(),
        auto_remediation: spec.auto_remediation,
        remediation_action: spec.remediation_action.clone(),
        tags: spec.tags.clone(),
        version: before.version + 1,
        updated_at: next_update_time(before.updated_at),
        ..before.clone()
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
        let organization = Organization {
            id: id.to_owned(),
            name: name.to_owned(),
            created_at: now(),
        };
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&organization.id)
            .bind(&organization.name)
            .bind(organization.created_at)
            .execute(&self.pool)
            .await
            .map_err(|error| match error {
                error if is_unique_violation(&error) => {
                    StoreError::Conflict(format!("an organization `{id}` exists already"))
                }
                error => map_error(error),
            })?;
        Ok(organization)
    }

    async fn count_api_keys(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
            .fetch_one(&self.pool)
            .await
            .map_err(map_error)
    }

    async fn create_api_key(&self, ctx: &WriteContext, key: NewApiKey) -> StoreResult<ApiKey> {
        let stored = ApiKey {
            id: new_id("key"),
            organization_id: key.organization_id,
            name: key.name,
            scopes: key.scopes,
            key_hash: key.key_hash,
            prefix: key.prefix,
            created_at: now(),
            expires_at: key.expires_at,
            revoked_at: None,
        };
        let scope_names: Vec<&str> = stored.scopes.iter().map(|scope| scope.as_str()).collect();

        let mut tx = self.begin().await?;
        lock_organization(&mut tx, &ctx.organization_id).await?;
        sqlx::query(
            "INSERT INTO api_keys (id, organization_id, name, scopes, key_hash, prefix, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&stored.id)
        .bind(&stored.organization_id)
        .bind(&stored.name)
        .bind(&scope_names)
        .bind(&stored.key_hash)
        .bind(&stored.prefix)
        .bind(stored.created_at)
        .bind(stored.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;

        let changes = serde_json::json!({ "name": stored.name, "scopes": scope_names });
        insert_audit_event(
            &mut tx,
            ctx,
            "api_key.created",
            "api_key",
            &stored.id,
            changes,
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(stored)
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_error)?;
        row.as_ref().map(api_key_from_row).transpose()
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
        let direction = match query.order {
            SortOrder::Asc => "ASC",
            SortOrder::Desc => "DESC",
        };
        select.push(format!(
            " ORDER BY {} {direction}, id {direction}",
            query.sort_by.as_str()
        ));
        select.push(" LIMIT ").push_bind(i64::from(query.limit) + 1);
        if let PageStart::Offset(offset) = query.start {
            let offset = i64::try_from(offset).unwrap_or(i64::MAX);
            select.push(" OFFSET ").push_bind(offset);
        }

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
        let mut select = QueryBuilder::new(
            "SELECT sequence, id, action, target_type, target_id, actor, request_id, \
             changes::text AS changes, created_at FROM audit_events WHERE organization_id = ",
        );
        select.push_bind(organization_id.to_owned());
        if let Some(action) = &query.action {
            select.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(target_id) = &query.target_id {
            select
                .push(" AND target_id = ")
                .push_bind(target_id.clone());
        }
        select
            .push(" AND sequence > ")
            .push_bind(page.after.unwrap_or(0));
        select
            .push(" ORDER BY sequence LIMIT ")
            .push_bind(i64::from(page.limit) + 1);

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

    async fn save_idempotent(
        &self,
        organization_id: &str,
        key: &str,
        answer: &IdempotentAnswer,
    ) -> StoreResult<bool> {
        let saved = sqlx::query(
            "INSERT INTO idempotent_answers (organization_id, key, request_hash, status, body, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(organization_id)
        .bind(key)
        .bind(&answer.request_hash)
        .bind(i32::from(answer.status))
        .bind(&answer.body)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(saved.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
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
}
