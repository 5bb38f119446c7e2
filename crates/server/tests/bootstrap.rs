//! The first start: one admin key, even when several servers start at once on one database.

mod support;

use policycortex_server::{bootstrap, Bootstrap, BOOTSTRAP_ORGANIZATION};
use policycortex_store::{SharedStore, StoreOptions};
use support::{Backing, ADMIN_KEY};

both_backings!(racing_first_starts_make_one_key);

async fn open(backing: &Backing) -> SharedStore {
    policycortex_store::open(backing.url(), &StoreOptions::default())
        .await
        .unwrap()
}

/// Two stores over one database bootstrap at the same moment; exactly one makes the key.
async fn racing_first_starts_make_one_key(backing: Backing) {
    let (first, second) = (open(&backing).await, open(&backing).await);

    let (a, b) = tokio::join!(
        bootstrap(&first, Some(ADMIN_KEY)),
        bootstrap(&second, Some(ADMIN_KEY))
    );

    let mut outcomes = vec![a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|outcome| format!("{outcome:?}"));
    assert_eq!(
        outcomes,
        vec![Bootstrap::FromEnvironment, Bootstrap::KeysExist]
    );
    assert_eq!(first.count_api_keys().await.unwrap(), 1);
    assert_eq!(
        first
            .list_api_keys(BOOTSTRAP_ORGANIZATION)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_generated_first_key_is_returned_once_and_later_starts_make_none() {
    let backing = Backing::sqlite();
    let store = open(&backing).await;

    let first = bootstrap(&store, None).await.unwrap();
    let second = bootstrap(&store, None).await.unwrap();

    let Bootstrap::Generated(key) = first else {
        panic!("expected a generated key, got {first:?}")
    };
    assert!(key.starts_with("pc_"), "{key}");
    assert_eq!(second, Bootstrap::KeysExist);
    assert_eq!(store.count_api_keys().await.unwrap(), 1);
}

#[tokio::test]
async fn a_malformed_bootstrap_key_is_refused_and_makes_nothing() {
    let backing = Backing::sqlite();
    let store = open(&backing).await;

    let refused = bootstrap(&store, Some("too-short")).await;

    assert!(refused.is_err());
    assert_eq!(store.count_api_keys().await.unwrap(), 0);
}
