//! Reading PostgreSQL rows: the policy column list and the decoding of rows into
//! policies, API keys, policy versions and audit events.
//!
//! `jsonb` columns are selected as text (`::text`) and parsed here; timestamps and
//! `text[]` columns decode directly.

use policycortex_engine::{Policy, Severity};
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::common::*;
use crate::model::*;
use crate::{StoreError, StoreResult};

/// The columns of a policy row as [`policy_from_row`] reads them.
pub(super) const POLICY_COLUMNS: &str = "id, name, description, resource_type, severity, enabled, \
     rules::text AS rules, compliance_frameworks, auto_remediation, remediation_action, tags, \
     version, created_at, updated_at, created_by";

/// Decodes a policy row selected with [`POLICY_COLUMNS`].
pub(super) fn policy_from_row(row: &PgRow) -> StoreResult<Policy> {
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

/// Decodes an `api_keys` row.
pub(super) fn api_key_from_row(row: &PgRow) -> StoreResult<ApiKey> {
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

/// Decodes a `policy_versions` row (its `policy` as text), with its sequence number.
pub(super) fn version_from_row(row: &PgRow) -> StoreResult<(i64, PolicyVersion)> {
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

/// Decodes an `audit_events` row (its `changes` as text), with its sequence number.
pub(super) fn audit_event_from_row(row: &PgRow) -> StoreResult<(i64, AuditEvent)> {
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
