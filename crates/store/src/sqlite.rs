//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so that an
//! acknowledged write survives a crash or a power cut.
//!
//! Writes go through a pool of one connection, so they queue in the process instead of
//! failing with "database is locked"; reads use a pool of their own and run beside them.

use std::str::FromStr;

use async_trait::async_trait;
use policycortex_engine::{Policy, PolicySpec, Severity};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use crate::common::*;
use crate::cursor::SortKey;
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

/// The columns of a policy row, in the order [`policy_from_row`] reads them.
const POLICY_COLUMNS: &str = "id, name, description, resource_type, severity, enabled, rules, \
     compliance_frameworks, auto_remediation, remediation_action, tags, version, created_at, \
     updated_at, created_by";

fn policy_from_row(row: &SqliteRow) -> StoreResult<Policy> {
    let severity: i64 = row.try_get("severity").map_err(map_error)?;
    let text = |column: &str| row.try_get::<String, _>(column).map_err(map_error);
    Ok(Policy {
        id: text("id")?,
        name: text("name")?,
        description: row.try_get("description").map_err(map_error)?,
        resource_type: text("resource_type")?,
        severity: Severity::from_rank(severity)
            .ok_or_else(|| StoreError::Internal(format!("bad stored severity {severity}")))?,
        enabled: row.try_get("enabled").map_err(map_error)?,
        rules: from_json_text(&text("rules")?)?,
        compliance_frameworks: from_json_text(&text("compliance_frameworks")?)?,
        auto_remediation: row.try_get("auto_remediation").map_err(map_error)?,
        remediation_action: row.try_get("remediation_action").map_err(map_error)?,
        tags: from_json_text(&text("tags")?)?,
        version: row.try_get("version").map_err(map_error)?,
        created_at: parse_timestamp(&text("created_at")?)?,
        updated_at: parse_timestamp(&text("updated_at")?)?,
        created_by: text("created_by")?,
    })
}

fn api_key_from_row(row: &SqliteRow) -> StoreResult<ApiKey> {
    let text = |column: &str| row.try_get::<String, _>(column).map_err(map_error);
    let optional_time = |column: &str| -> StoreResult<_> {
        let value: Option<String> = row.try_get(column).map_err(map_error)?;
        value.as_deref().map(parse_timestamp).transpose()
    };
    let scope_names: Vec<String> = from_json_text(&text("scopes")?)?;
    Ok(ApiKey {
        id: text("id")?,
        organization_id: text("organization_id")?,
        name: text("name")?,
        scopes: scope_names
            .iter()
            .filter_map(|name| Scope::parse(name))
            .collect(),
        key_hash: text("key_hash")?,
        prefix: text("prefix")?,
        created_at: parse_timestamp(&text("created_at")?)?,
        expires_at: optional_time("expires_at")?,
        revoked_at: optional_time("revoked_at")?,
    })
}

/// Reads one policy inside a write transaction.
async fn policy_in(
    tx: &mut Transaction<'static, Sqlite>,
    organization_id: &str,
    id: &str,
) -> StoreResult<Policy> {
    let sql = format!("SELECT {POLICY_COLUMNS} FROM policies WHERE organization_id = ? AND id = ?");
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

/// Records a policy's state after `action` and the matching audit event, and bumps the
/// organization's policy revision: the three side effects of every policy write.
async fn record_policy_change(
    tx: &mut Transaction<'static, Sqlite>,
    ctx: &WriteContext,
    action: &str,
    policy: &Policy,
    changes: serde_json::Value,
) -> StoreResult<()> {
    let at = timestamp_text(now());
    sqlx::query(
        "INSERT INTO policy_versions (organization_id, policy_id, version, action, policy, \
         actor, request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&ctx.organization_id)
    .bind(&policy.id)
    .bind(policy.version)
    .bind(action)
    .bind(to_json_text(policy)?)
    .bind(&ctx.actor)
    .bind(&ctx.request_id)
    .bind(&at)
    .execute(&mut **tx)
    .await
    .map_err(map_error)?;

    insert_audit_event(tx, ctx, action, "policy", &policy.id, changes).await?;

    sqlx::query("UPDATE organizations SET policy_revision = policy_revision + 1 WHERE id = ?")
        .bind(&ctx.organization_id)
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    Ok(())
}

async fn insert_audit_event(
    tx: &mut Transaction<'static, Sqlite>,
    ctx: &WriteContext,
    action: &str,
    target_type: &str,
    target_id: &str,
    changes: serde_json::Value,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, organization_id, action, target_type, target_id, actor, \
         request_id, changes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(new_id("evt"))
    .bind(&ctx.organization_id)
    .bind(action)
    .bind(target_type)
    .bind(target_id)
    .bind(&ctx.actor)
    .bind(&ctx.request_id)
    .bind(to_json_text(&changes)?)
    .bind(timestamp_text(now()))
    .execute(&mut **tx)
    .await
    .map_err(map_error)?;
    Ok(())
}

/// Appends the WHERE clause of a policy list: the organization and the filters.
fn push_policy_filters(
    sql: &mut QueryBuilder<'_, Sqlite>,
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
    for tag in &query.tags {
        sql.push(" AND EXISTS (SELECT 1 FROM json_each(policies.tags) WHERE value = ")
            .push_bind(tag.clone())
            .push(")");
    }
}

/// Appends the keyset condition that starts a page strictly after the cursor's row.
fn push_after_cursor(sql: &mut QueryBuilder<'_, Sqlite>, query: &PolicyQuery) {
    let PageStart::After(cursor) = &query.start else {
        return;
    };
    let column = query.sort_by.as_str();
    let beyond = match query.order {
        SortOrder::Asc => ">",
        SortOrder::Desc => "<",
    };
    let bind_key = |sql: &mut QueryBuilder<'_, Sqlite>| match &cursor.key {
        SortKey::Int(value) => {
            sql.push_bind(*value);
        }
        SortKey::Text(value) => {
            sql.push_bind(value.clone());
        }
    };
    sql.push(format!(" AND ({column} {beyond} "));
    bind_key(sql);
    sql.push(format!(" OR ({column} = "));
    bind_key(sql);
    sql.push(format!(" AND id {beyond} "))
        .push_bind(cursor.id.clone())
        .push("))");
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
        let organization = Organization {
            id: id.to_owned(),
            name: name.to_owned(),
            created_at: now(),
        };
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)")
            .bind(&organization.id)
            .bind(&organization.name)
            .bind(timestamp_text(organization.created_at))
            .execute(&self.writer)
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
            .fetch_one(&self.reader)
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
        sqlx::query(
            "INSERT INTO api_keys (id, organization_id, name, scopes, key_hash, prefix, \
             created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&stored.id)
        .bind(&stored.organization_id)
        .bind(&stored.name)
        .bind(to_json_text(&scope_names)?)
        .bind(&stored.key_hash)
        .bind(&stored.prefix)
        .bind(timestamp_text(stored.created_at))
        .bind(stored.expires_at.map(timestamp_text))
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
        let row = sqlx::query("SELECT * FROM api_keys WHERE key_hash = ?")
            .bind(key_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_error)?;
        row.as_ref().map(api_key_from_row).transpose()
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
        let after = Policy {
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
        };

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
            select.push(" OFFSET ").push_bind(offset as i64);
        }
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
            .map(|row| {
                let text = |column: &str| row.try_get::<String, _>(column).map_err(map_error);
                let sequence: i64 = row.try_get("sequence").map_err(map_error)?;
                let version = PolicyVersion {
                    policy_id: text("policy_id")?,
                    version: row.try_get("version").map_err(map_error)?,
                    action: text("action")?,
                    policy: from_json_text(&text("policy")?)?,
                    actor: text("actor")?,
                    request_id: text("request_id")?,
                    created_at: parse_timestamp(&text("created_at")?)?,
                };
                Ok((sequence, version))
            })
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
        let mut select = QueryBuilder::new("SELECT * FROM audit_events WHERE organization_id = ");
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
            .fetch_all(&self.reader)
            .await
            .map_err(map_error)?;
        let events = rows
            .iter()
            .map(|row| {
                let text = |column: &str| row.try_get::<String, _>(column).map_err(map_error);
                let sequence: i64 = row.try_get("sequence").map_err(map_error)?;
                let event = AuditEvent {
                    id: text("id")?,
                    action: text("action")?,
                    target_type: text("target_type")?,
                    target_id: text("target_id")?,
                    actor: text("actor")?,
                    request_id: text("request_id")?,
                    changes: from_json_text(&text("changes")?)?,
                    created_at: parse_timestamp(&text("created_at")?)?,
                };
                Ok((sequence, event))
            })
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

    async fn save_idempotent(
        &self,
        organization_id: &str,
        key: &str,
        answer: &IdempotentAnswer,
    ) -> StoreResult<bool> {
        let saved = sqlx::query(
            "INSERT INTO idempotent_answers (organization_id, key, request_hash, status, body, \
             created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(organization_id)
        .bind(key)
        .bind(&answer.request_hash)
        .bind(i64::from(answer.status))
        .bind(&answer.body)
        .bind(timestamp_text(now()))
        .execute(&self.writer)
        .await
        .map_err(map_error)?;
        Ok(saved.rows_affected() == 1)
    }
}
