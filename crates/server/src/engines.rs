//! The evaluation engines of this server: one compiled [`PolicySet`] per organization,
//! kept in memory and kept fresh.
//!
//! Before an evaluation the server reads the organization's policy revision from the store
//! (one indexed lookup). When it differs from the revision the cached set was built at,
//! another server has written (or this one has not seen the write), and the set is rebuilt
//! from the store. A write made through this server updates the cached set in place,
//! compiling only the policy it changed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use policycortex_engine::{Policy, PolicySet};
use policycortex_store::SharedStore;

use crate::error::{ApiError, ApiResult};

/// A compiled set and the policy revision it reflects.
#[derive(Debug, Clone)]
struct Cached {
    revision: i64,
    set: Arc<PolicySet>,
}

/// The compiled policy sets of every organization this server has evaluated for.
#[derive(Debug, Default)]
pub struct Engines {
    /// Sets by organization id.
    cached: RwLock<HashMap<String, Cached>>,
}

impl Engines {
    /// The current policy set of an organization.
    pub async fn current(
        &self,
        store: &SharedStore,
        organization_id: &str,
    ) -> ApiResult<Arc<PolicySet>> {
        let revision = store.policy_revision(organization_id).await?;
        if let Some(cached) = self.cached_at(organization_id, revision) {
            return Ok(cached);
        }

        let policies = store.all_policies(organization_id).await?;
        let set =
            PolicySet::build(&policies).map_err(|error| ApiError::Internal(error.to_string()))?;
        let set = Arc::new(set);
        self.write().insert(
            organization_id.to_owned(),
            Cached {
                revision,
                set: set.clone(),
            },
        );
        Ok(set)
    }

    fn cached_at(&self, organization_id: &str, revision: i64) -> Option<Arc<PolicySet>> {
        let cached = self
            .cached
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cached
            .get(organization_id)
            .filter(|cached| cached.revision == revision)
            .map(|cached| cached.set.clone())
    }

    /// Brings the cached set up to date after this server wrote `policy` (or deleted the
    /// policy `deleted_id`). When the store's revision shows exactly this one write since
    /// the cached set, only that policy is recompiled; otherwise the set is dropped and
    /// rebuilt on the next evaluation.
    pub async fn after_write(
        &self,
        store: &SharedStore,
        organization_id: &str,
        change: Change<'_>,
    ) {
        let Ok(revision) = store.policy_revision(organization_id).await else {
            self.write().remove(organization_id);
            return;
        };
        let mut cached = self.write();
        let Some(entry) = cached
            .get(organization_id)
            .filter(|entry| entry.revision + 1 == revision)
            .cloned()
        else {
            cached.remove(organization_id);
            return;
        };
        let updated = match change {
            Change::Written(policy) => entry.set.with_policy(policy).ok(),
            Change::Deleted(id) => Some(entry.set.without_policy(id)),
        };
        match updated {
            Some(set) => cached.insert(
                organization_id.to_owned(),
                Cached {
                    revision,
                    set: Arc::new(set),
                },
            ),
            None => cached.remove(organization_id),
        };
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Cached>> {
        self.cached
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A policy write this server made.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// The policy was created or updated.
    Written(&'a Policy),
    /// The policy with this id was deleted.
    Deleted(&'a str),
}
