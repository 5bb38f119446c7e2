//! Reading SQLite rows: the policy column list, the decoding of rows into policies, API
//! keys, policy versions and audit events, and the read of one policy inside a write.
//!
//! Timestamps and JSON values are stored as text here, so decoding parses both.

use policycortex_engine::{Policy, Severity};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use crate::common::*;
use crate::model::*;
use crate::{StoreError, StoreResult};

/// The columns of a policy row, in the order [`policy_from_row`] reads them.
pub(super) const POLICY_COLUMNS: &str =
    "id, name, description, resource_type, severity, enabled, rules, \
     compliance_frameworks, auto_remediation, remediation_action, tags, version, created_at, \
     updated_at, created_by";

/// Decodes a policy row selected with [`POLICY_COLUMNS`].
pub(super) fn policy_from_row(row: &SqliteRow) -> StoreResult<Policy> {
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

/// Decodes an `api_keys` row.
pub(super) fn api_key_from_row(row: &SqliteRow) -> StoreResult<ApiKey> {
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

/// Decodes a `policy_versions` row, with its sequence number for paging.
pub(super) fn version_from_row(row: &SqliteRow) -> StoreResult<(i64, PolicyVersion)> {
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
}

/// Decodes an `audit_events` row, with its sequence number for paging.
pub(super) fn audit_event_from_row(row: &SqliteRow) -> StoreResult<(i64, AuditEvent)> {
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
}

/// Reads one policy inside a write transaction.
pub(super) async fn policy_in(
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
