//! The storage layer on its own, against the same backends as the web tests.

use ontrackio::domain::{EmailAddress, Role, UserStatus, WorkspaceSlug};
use ontrackio::store::{self, users::NewUser};

use crate::helpers::fresh_db;

#[tokio::test]
async fn emails_are_unique_per_workspace_case_insensitively_but_not_across_workspaces() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = fresh_db(&dir).await;
    let a = store::workspaces::insert(db.pool(), &WorkspaceSlug::parse("acme").unwrap(), "A")
        .await
        .unwrap();
    let b = store::workspaces::insert(db.pool(), &WorkspaceSlug::parse("globex").unwrap(), "B")
        .await
        .unwrap();
    let new = |e: &'static str| {
        let email = Box::leak(Box::new(EmailAddress::parse(e).unwrap()));
        NewUser {
            email,
            first_name: "",
            last_name: "",
            role: Role::Employee,
            external: false,
            status: UserStatus::Invited,
            email_verified: false,
            password_hash: None,
        }
    };
    store::users::insert(db.pool(), &a.id, new("pat@acme.test"))
        .await
        .unwrap();
    let dup = store::users::insert(db.pool(), &a.id, new("PAT@acme.test"))
        .await
        .unwrap_err();
    assert!(store::is_unique_violation(&dup));
    store::users::insert(db.pool(), &b.id, new("pat@acme.test"))
        .await
        .unwrap();
    let dup_ws = store::workspaces::insert(db.pool(), &WorkspaceSlug::parse("acme").unwrap(), "A2")
        .await
        .unwrap_err();
    assert!(store::is_unique_violation(&dup_ws));
}

#[tokio::test]
async fn a_failed_transaction_leaves_no_partial_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = fresh_db(&dir).await;
    let ws = store::workspaces::insert(db.pool(), &WorkspaceSlug::parse("acme").unwrap(), "A")
        .await
        .unwrap();
    let email = EmailAddress::parse("x@acme.test").unwrap();
    let mut tx = db.begin().await.unwrap();
    store::users::insert(
        &mut *tx,
        &ws.id,
        NewUser {
            email: &email,
            first_name: "",
            last_name: "",
            role: Role::Employee,
            external: false,
            status: UserStatus::Invited,
            email_verified: false,
            password_hash: None,
        },
    )
    .await
    .unwrap();
    let err = store::users::insert(
        &mut *tx,
        &ws.id,
        NewUser {
            email: &email,
            first_name: "",
            last_name: "",
            role: Role::Employee,
            external: false,
            status: UserStatus::Invited,
            email_verified: false,
            password_hash: None,
        },
    )
    .await;
    assert!(err.is_err());
    drop(tx);
    assert!(
        store::users::find_by_email(db.pool(), &ws.id, &email)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn throttle_counters_accumulate_within_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = fresh_db(&dir).await;
    let mut conn = db.pool().acquire().await.unwrap();
    for _ in 0..3 {
        store::throttle::record_failure(&mut conn, "k", 900)
            .await
            .unwrap();
    }
    assert_eq!(
        store::throttle::failures(&mut conn, "k", 900)
            .await
            .unwrap()
            .0,
        3
    );
    store::throttle::clear(&mut conn, "k").await.unwrap();
    assert_eq!(
        store::throttle::failures(&mut conn, "k", 900)
            .await
            .unwrap()
            .0,
        0
    );
}
