//! The group state log: pentest checklist A2 (member added without an admin's signature) and A3
//! (replayed, forked, reordered changes), plus the membership rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use sotto_proto::group::{GroupChange, GroupOp, GroupState};
use sotto_proto::signed::Signed;
use sotto_proto::testing::T0;
use sotto_proto::{Error, GroupError};
use support::*;

fn group_err(result: Result<GroupState, Error>) -> GroupError {
    match result {
        Err(Error::Group(e)) => e,
        other => panic!("expected a group error, got {other:?}"),
    }
}

#[test]
fn admin_changes_apply_in_order() {
    let mut w = World::new();
    assert_eq!(w.group.epoch(), 0);
    assert!(w.group.is_admin(&w.alice.master.account()));
    w.alice_changes(GroupOp::AddMember(w.dave.member(false)));
    w.alice_changes(GroupOp::SetAdmin {
        account: w.bob.master.account(),
        admin: true,
    });
    w.alice_changes(GroupOp::Rename {
        name: "Case 2026-114 (closed)".into(),
    });
    w.alice_changes(GroupOp::RemoveMember {
        account: w.carol.master.account(),
    });
    assert_eq!(w.group.epoch(), 4);
    assert_eq!(w.group.name(), "Case 2026-114 (closed)");
    assert!(w.group.is_member(&w.dave.master.account()));
    assert!(!w.group.is_member(&w.carol.master.account()));
    assert!(w.group.is_admin(&w.bob.master.account()));
    // Replaying the whole log from the genesis gives the same state.
    let mut replayed = GroupState::genesis(&w.log[0], &w.alice.device.verified).unwrap();
    for change in &w.log[1..] {
        replayed = replayed.apply(change, &w.alice.device.verified).unwrap();
    }
    assert_eq!(replayed, w.group);
}

#[test]
fn a2_member_added_by_a_non_admin_or_unsigned_is_refused() {
    let w = World::new();
    let by_bob = w
        .group
        .propose(
            GroupOp::AddMember(w.dave.member(false)),
            w.bob.master.account(),
            &w.bob.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        group_err(w.group.apply(&by_bob, &w.bob.device.verified)),
        GroupError::SignerNotAdmin
    );
    let by_dave = w
        .group
        .propose(
            GroupOp::AddMember(w.dave.member(true)),
            w.dave.master.account(),
            &w.dave.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        group_err(w.group.apply(&by_dave, &w.dave.device.verified)),
        GroupError::SignerNotMember
    );
    // "Signed by Alice" with a garbage signature, or presented with another device.
    let good = w
        .group
        .propose(
            GroupOp::AddMember(w.dave.member(false)),
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    let unsigned = Signed::from_parts(good.unverified_body().to_vec(), vec![0; 384]);
    assert!(matches!(
        w.group.apply(&unsigned, &w.alice.device.verified),
        Err(Error::BadSignature { .. })
    ));
    assert_eq!(
        group_err(w.group.apply(&good, &w.bob.device.verified)),
        GroupError::SignerMismatch
    );
    // The state did not move.
    assert_eq!(w.group.epoch(), 0);
    assert!(!w.group.is_member(&w.dave.master.account()));
}

#[test]
fn a3_replayed_forked_and_reordered_changes_are_refused() {
    let mut w = World::new();
    let first = w.alice_changes(GroupOp::AddMember(w.dave.member(false)));
    // Replay of an applied change.
    assert_eq!(
        group_err(w.group.apply(&first, &w.alice.device.verified)),
        GroupError::Replayed { epoch: 1 }
    );
    assert_eq!(
        group_err(w.group.apply(&w.log[0], &w.alice.device.verified)),
        GroupError::Replayed { epoch: 0 }
    );
    // A fork: another change for epoch 1 off the same parent.
    let mut body = GroupChange::decode(first.unverified_body()).unwrap();
    body.op = GroupOp::Rename {
        name: "other".into(),
    };
    let fork = Signed::sign(body.encode(), w.alice.device.keys.signing()).unwrap();
    assert_eq!(
        group_err(w.group.apply(&fork, &w.alice.device.verified)),
        GroupError::Fork { epoch: 1 }
    );
    // A change for epoch 2 that does not extend the head.
    let mut body = GroupChange::decode(first.unverified_body()).unwrap();
    body.epoch = 2;
    body.op = GroupOp::Rename {
        name: "detached".into(),
    };
    let detached = Signed::sign(body.encode(), w.alice.device.keys.signing()).unwrap();
    assert_eq!(
        group_err(w.group.apply(&detached, &w.alice.device.verified)),
        GroupError::PreviousHashMismatch
    );
    // Reordered: epoch 3 before epoch 2.
    let two = w
        .group
        .propose(
            GroupOp::Rename { name: "two".into() },
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    let after_two = w.group.apply(&two, &w.alice.device.verified).unwrap();
    let three = after_two
        .propose(
            GroupOp::Rename {
                name: "three".into(),
            },
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        group_err(w.group.apply(&three, &w.alice.device.verified)),
        GroupError::EpochGap {
            expected: 2,
            got: 3
        }
    );
    // A removed member's change is refused, and removed members are not members.
    w.alice_changes(GroupOp::RemoveMember {
        account: w.bob.master.account(),
    });
    assert!(!w.group.is_member(&w.bob.master.account()));
}

#[test]
fn membership_rules() {
    let mut w = World::new();
    let add_bob = w
        .group
        .propose(
            GroupOp::AddMember(w.bob.member(false)),
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        group_err(w.group.apply(&add_bob, &w.alice.device.verified)),
        GroupError::AlreadyMember
    );
    let demote = w
        .group
        .propose(
            GroupOp::SetAdmin {
                account: w.alice.master.account(),
                admin: false,
            },
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        group_err(w.group.apply(&demote, &w.alice.device.verified)),
        GroupError::LastAdmin
    );
    let leave = w
        .group
        .propose(
            GroupOp::RemoveMember {
                account: w.alice.master.account(),
            },
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        group_err(w.group.apply(&leave, &w.alice.device.verified)),
        GroupError::LastAdmin
    );
    // A non-admin may leave.
    let bob_leaves = w
        .group
        .propose(
            GroupOp::RemoveMember {
                account: w.bob.master.account(),
            },
            w.bob.master.account(),
            &w.bob.device.keys,
            T0,
        )
        .unwrap();
    w.group = w.group.apply(&bob_leaves, &w.bob.device.verified).unwrap();
    assert!(!w.group.is_member(&w.bob.master.account()));
    // Names with control characters are refused when decoded.
    let rename = w
        .group
        .propose(
            GroupOp::Rename {
                name: "evil\u{202e}txt".into(),
            },
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    assert!(matches!(
        w.group.apply(&rename, &w.alice.device.verified),
        Err(Error::Decode(_))
    ));
}

#[test]
fn genesis_must_be_a_creation_by_an_admin_member() {
    let w = World::new();
    let conversation = sotto_proto::ids::ConversationId::from_bytes([2; 16]);
    let not_member = GroupState::create(
        conversation,
        "x",
        vec![w.bob.member(true)],
        w.alice.master.account(),
        &w.alice.device.keys,
        T0,
    )
    .unwrap();
    assert_eq!(
        group_err(GroupState::genesis(&not_member, &w.alice.device.verified)),
        GroupError::SignerNotMember
    );
    let not_admin = GroupState::create(
        conversation,
        "x",
        vec![w.alice.member(false)],
        w.alice.master.account(),
        &w.alice.device.keys,
        T0,
    )
    .unwrap();
    assert_eq!(
        group_err(GroupState::genesis(&not_admin, &w.alice.device.verified)),
        GroupError::SignerNotAdmin
    );
    let twice = GroupState::create(
        conversation,
        "x",
        vec![w.alice.member(true), w.alice.member(false)],
        w.alice.master.account(),
        &w.alice.device.keys,
        T0,
    )
    .unwrap();
    assert_eq!(
        group_err(GroupState::genesis(&twice, &w.alice.device.verified)),
        GroupError::AlreadyMember
    );
    let later = w
        .group
        .propose(
            GroupOp::Rename { name: "y".into() },
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        group_err(GroupState::genesis(&later, &w.alice.device.verified)),
        GroupError::NotGenesis
    );
}
