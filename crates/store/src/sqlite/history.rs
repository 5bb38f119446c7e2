//! The side effects of SQLite writes, inside the write's transaction: a policy's version
//! row, audit events, and the bump of the organization's policy revision.

use policycortex_engine::Policy;
use sqlx::{Sqlite, Transaction};

use crate::common::*;
use crate::ids::new_id;
use crate::{StoreResult, WriteContext};

/// Records a policy's state after `action` and the matching audit event, and bumps the
/// organization's policy revision: the three side effects of every policy write.
pub(super) async fn record_policy_change(
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

/// Records one audit event about `target_type` `target_id`.
pub(super) async fn insert_audit_event(
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
