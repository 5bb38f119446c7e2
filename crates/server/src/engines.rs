//! The evaluation engines of this server: one compiled [`PolicySet`] per organization,
//! kept in memory and kept fresh.
//!
//! Before an evaluation the server reads the organization's policy revision from the store
//! (one indexed lookup). When it differs from the revision the cached set was built at,
//! another server has written (or this one has not seen the write), and the set is rebuilt
//! from the store. A write made through this server updates the cached set in place,
//! compiling only the policy it changed, when the revision proves that this write is the
//! only one the cached set lacks.
//!
//! The cached set remembers the version of every policy it was built from (disabled ones
//! too). An evaluation may rebuild the set between a write's commit and its
//! [`Engines::after_write`]; the set then already holds the write, and the revision it is
//! labelled with says nothing about the write. Such a set is recognised by the versions
//! and dropped rather than updated, so a later write by another server is never hidden.
//!
//! Known limitation: when a create made here is followed, before this server's
//! `after_write` runs, by a delete of that same policy elsewhere, a rebuild in between and
//! exactly one more write, the deleted policy could come back into the cached set until
//! the organization's next write. Every step of that chain must fall into the few
//! milliseconds between a commit and its `after_write`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use policycortex_engine::{Policy, PolicySet};
use policycortex_store::SharedStore;

use crate::error::{ApiError, ApiResult};

/// A compiled set and the policy revision it reflects.
#[derive(Debug, Clone)]
struct Cached {
    /// The revision read before the policies were: the set holds at least its writes.
    revision: i64,
    /// The compiled enabled policies.
    set: Arc<PolicySet>,
    /// The version of every policy the set was built from, enabled or not, by id.
    versions: Arc<HashMap<String, i64>>,
}

impl Cached {
    /// Whether this set already reflects `change`.
    fn has_seen(&self, change: Change<'_>) -> bool {
        match change {
            Change::Written(policy) => match self.versions.get(&policy.id) {
                Some(version) => *version >= policy.version,
                // Absent: built before the create, or after a later delete.
                None => policy.version > 1,
            },
            Change::Deleted(id) => !self.versions.contains_key(id),
        }
    }

    /// This set with `change` applied, labelled `revision`.
    fn apply(&self, change: Change<'_>, revision: i64) -> Option<Self> {
        let mut versions = (*self.versions).clone();
        let set = match change {
            Change::Written(policy) => {
                versions.insert(policy.id.clone(), policy.version);
                self.set.with_policy(policy).ok()?
            }
            Change::Deleted(id) => {
                versions.remove(id);
                self.set.without_policy(id)
            }
        };
        Some(Self {
            revision,
            set: Arc::new(set),
            versions: Arc::new(versions),
        })
    }
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
        self.current_at(store, organization_id, revision).await
    }

    /// The policy set of an organization whose policy revision was just read as
    /// `revision` (authentication reads it with the key, saving a query per evaluation).
    pub async fn current_at(
        &self,
        store: &SharedStore,
        organization_id: &str,
        revision: i64,
    ) -> ApiResult<Arc<PolicySet>> {
        if let Some(cached) = self.cached_at(organization_id, revision) {
            return Ok(cached);
        }

        let policies = store.all_policies(organization_id).await?;
        let set =
            PolicySet::build(&policies).map_err(|error| ApiError::Internal(error.to_string()))?;
        let set = Arc::new(set);
        let versions = policies
            .iter()
            .map(|policy| (policy.id.clone(), policy.version))
            .collect();
        self.write().insert(
            organization_id.to_owned(),
            Cached {
                revision,
                set: set.clone(),
                versions: Arc::new(versions),
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
    /// policy `deleted_id`). When the store's revision shows exactly one write since the
    /// cached set was built, and the set has not seen this one, that one is this write:
    /// only its policy is recompiled. Otherwise the set is dropped and rebuilt on the next
    /// evaluation.
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
        let Some(entry) = cached.get(organization_id) else {
            return;
        };
        if entry.revision == revision {
            // Built after every write up to `revision`, this one included.
            return;
        }
        let updated = Some(entry)
            .filter(|entry| entry.revision + 1 == revision && !entry.has_seen(change))
            .and_then(|entry| entry.apply(change, revision));
        match updated {
            Some(updated) => cached.insert(organization_id.to_owned(), updated),
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

#[cfg(test)]
mod tests {
    //! The cached sets against a real SQLite store, with the interleavings of writes,
    //! evaluations and `after_write` that concurrent requests and servers produce.

    use policycortex_engine::validate::{parse_create, Limits};
    use policycortex_store::{StoreOptions, WriteContext};
    use serde_json::json;

    use super::*;

    struct Fixture {
        store: SharedStore,
        ctx: WriteContext,
        engines: Engines,
        _directory: tempfile::TempDir,
    }

    impl Fixture {
        async fn new() -> Self {
            let directory = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", directory.path().join("test.db").display());
            let store = policycortex_store::open(&url, &StoreOptions::default())
                .await
                .unwrap();
            let organization = store.create_organization("test").await.unwrap();
            let ctx = WriteContext {
                organization_id: organization.id,
                actor: "test".into(),
                request_id: "test".into(),
            };
            Self {
                store,
                ctx,
                engines: Engines::default(),
                _directory: directory,
            }
        }

        /// Creates a policy named `name` straight in the store, as another server would.
        async fn create(&self, name: &str) -> Policy {
            let body = json!({
                "name": name,
                "resource_type": "T",
                "rules": [{"condition": "true", "effect": "DENY", "message": "no"}],
            });
            let spec = parse_create(body.to_string().as_bytes(), &Limits::default()).unwrap();
            self.store.create_policy(&self.ctx, &spec).await.unwrap()
        }

        async fn current(&self) -> Arc<PolicySet> {
            self.engines
                .current(&self.store, &self.ctx.organization_id)
                .await
                .unwrap()
        }

        async fn after_write(&self, change: Change<'_>) {
            self.engines
                .after_write(&self.store, &self.ctx.organization_id, change)
                .await;
        }

        fn names(set: Arc<PolicySet>) -> Vec<String> {
            set.evaluate("T", &serde_json::Value::Null)
                .decisions
                .into_iter()
                .map(|decision| decision.policy_name.to_string())
                .collect()
        }
    }

    #[tokio::test]
    async fn a_write_with_nothing_in_between_recompiles_only_its_policy() {
        let fixture = Fixture::new().await;
        fixture.create("a").await;
        let before = fixture.current().await;

        let b = fixture.create("b").await;
        fixture.after_write(Change::Written(&b)).await;
        let after = fixture.current().await;

        assert_eq!(Fixture::names(after.clone()), ["a", "b"]);
        assert!(Arc::ptr_eq(
            &before.applicable("T")[0],
            &after.applicable("T")[0]
        ));
    }

    #[tokio::test]
    async fn a_rebuild_between_a_create_and_its_after_write_does_not_hide_a_later_write() {
        let fixture = Fixture::new().await;
        let a = fixture.create("a").await;
        // An evaluation on this server rebuilds the set after `a` committed...
        fixture.current().await;
        // ...then another server writes, before this server's `after_write` for `a`.
        fixture.create("b").await;
        fixture.after_write(Change::Written(&a)).await;

        assert_eq!(Fixture::names(fixture.current().await), ["a", "b"]);
    }

    #[tokio::test]
    async fn a_rebuild_between_a_delete_and_its_after_write_does_not_hide_a_later_write() {
        let fixture = Fixture::new().await;
        let a = fixture.create("a").await;
        fixture.create("b").await;
        fixture.current().await;
        fixture
            .store
            .delete_policy(&fixture.ctx, &a.id, None)
            .await
            .unwrap();
        fixture.current().await;
        fixture.create("c").await;
        fixture.after_write(Change::Deleted(&a.id)).await;

        assert_eq!(Fixture::names(fixture.current().await), ["b", "c"]);
    }

    #[tokio::test]
    async fn a_write_by_another_server_before_after_write_forces_a_rebuild() {
        let fixture = Fixture::new().await;
        fixture.create("a").await;
        fixture.current().await;
        let b = fixture.create("b").await;
        fixture.create("c").await;
        fixture.after_write(Change::Written(&b)).await;

        assert_eq!(Fixture::names(fixture.current().await), ["a", "b", "c"]);
    }
}
