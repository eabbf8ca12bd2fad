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
    assert_eq!(
        store::unique_violation(&dup),
        Some(store::UniqueKey::UserEmail),
        "translated by the constraint's name: {dup}"
    );
    store::users::insert(db.pool(), &b.id, new("pat@acme.test"))
        .await
        .unwrap();
    let dup_ws = store::workspaces::insert(db.pool(), &WorkspaceSlug::parse("acme").unwrap(), "A2")
        .await
        .unwrap_err();
    assert_eq!(
        store::unique_violation(&dup_ws),
        Some(store::UniqueKey::WorkspaceSlug),
        "{dup_ws}"
    );
}

#[tokio::test]
async fn a_linked_identity_is_unique_and_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = fresh_db(&dir).await;
    let ws = store::workspaces::insert(db.pool(), &WorkspaceSlug::parse("acme").unwrap(), "A")
        .await
        .unwrap();
    let email = EmailAddress::parse("x@acme.test").unwrap();
    let user = store::users::insert(
        db.pool(),
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
    let link =
        || store::user_identities::insert(db.pool(), &ws.id, &user, "microsoft", "tid", "oid");
    link().await.unwrap();
    let dup = link().await.unwrap_err();
    assert_eq!(
        store::unique_violation(&dup),
        Some(store::UniqueKey::UserIdentity),
        "{dup}"
    );
    // Any other error is not mistaken for one of ours.
    let other = sqlx::query("SELECT * FROM no_such_table")
        .execute(db.pool())
        .await
        .unwrap_err();
    assert_eq!(store::unique_violation(&other), None);
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
async fn throttle_counters_count_each_attempt_and_give_one_back() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = fresh_db(&dir).await;
    let mut conn = db.pool().acquire().await.unwrap();
    let mut last = None;
    for n in 1..=3 {
        let c = store::throttle::count_attempt(&mut conn, "k", 900)
            .await
            .unwrap();
        assert_eq!(c.attempts, n, "each attempt sees its own count");
        last = Some(c);
    }
    let c = last.unwrap();
    store::throttle::uncount_attempt(&mut conn, "k", c.window_start)
        .await
        .unwrap();
    assert_eq!(
        store::throttle::attempts(&mut conn, "k", 900)
            .await
            .unwrap(),
        2
    );
    // A window that has been replaced is not touched.
    store::throttle::uncount_attempt(&mut conn, "k", c.window_start - 1)
        .await
        .unwrap();
    assert_eq!(
        store::throttle::attempts(&mut conn, "k", 900)
            .await
            .unwrap(),
        2
    );
    store::throttle::clear(&mut conn, "k").await.unwrap();
    assert_eq!(
        store::throttle::attempts(&mut conn, "k", 900)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn ended_throttle_windows_are_swept_and_current_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = fresh_db(&dir).await;
    let mut conn = db.pool().acquire().await.unwrap();
    let old = store::throttle::count_attempt(&mut conn, "old", 900)
        .await
        .unwrap();
    store::throttle::count_attempt(&mut conn, "current", 900)
        .await
        .unwrap();
    // As the sweeper sees it once "old"'s window has ended but not the other's: the
    // cutoff lies between the two window starts.
    sqlx::query(
        "UPDATE throttle_buckets SET window_start = window_start - 1000 WHERE bucket = 'old'",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let swept = store::throttle::delete_stale(&mut *conn, old.window_start - 500)
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(
        store::throttle::attempts(&mut conn, "old", 900)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store::throttle::attempts(&mut conn, "current", 900)
            .await
            .unwrap(),
        1
    );
}
