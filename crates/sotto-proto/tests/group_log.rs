//! The group state log: pentest checklist A2 (member added without an admin's signature) and A3
//! (replayed, forked, reordered changes), plus the membership rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use sotto_proto::group::{
    ConversationKind, CreateKind, GroupChange, GroupOp, GroupState, NameCheck, NameCommitment,
    Retention,
};
use sotto_proto::signed::Signed;
use sotto_proto::testing::{group_kind, retired_create_body, test_name, T0};
use sotto_proto::{Error, GroupError};
use support::*;

/// A commitment to `name` set at `epoch` in the world's conversation.
fn named(w: &World, epoch: u64, name: &str) -> NameCommitment {
    test_name(epoch, name).commitment(w.group.conversation())
}

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
        name: named(&w, 3, "Case 2026-114 (closed)"),
    });
    w.alice_changes(GroupOp::RemoveMember {
        account: w.carol.master.account(),
    });
    assert_eq!(w.group.epoch(), 4);
    assert_eq!(
        w.group.check_name(&test_name(3, "Case 2026-114 (closed)")),
        Ok(NameCheck::Current)
    );
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
        name: named(&w, 1, "other"),
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
        name: named(&w, 2, "detached"),
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
            GroupOp::Rename {
                name: named(&w, 2, "two"),
            },
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    let after_two = w.group.apply(&two, &w.alice.device.verified).unwrap();
    let three = after_two
        .propose(
            GroupOp::Rename {
                name: named(&w, 3, "three"),
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
    // Renaming to the commitment the group already has does nothing.
    let current = w.group.naming().unwrap().commitment;
    let same = w
        .group
        .propose(
            GroupOp::Rename { name: current },
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        group_err(w.group.apply(&same, &w.alice.device.verified)),
        GroupError::NoOp
    );
}

#[test]
fn genesis_must_be_a_creation_by_an_admin_member() {
    let w = World::new();
    let conversation = sotto_proto::ids::ConversationId::from_bytes([2; 16]);
    let not_member = GroupState::create(
        conversation,
        group_kind(conversation, "x"),
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
        group_kind(conversation, "x"),
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
        group_kind(conversation, "x"),
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
            GroupOp::Rename {
                name: named(&w, 1, "y"),
            },
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

#[test]
fn a_direct_conversation_keeps_its_two_members_and_has_no_name() {
    let w = World::new();
    let conversation = sotto_proto::ids::ConversationId::from_bytes([3; 16]);
    let create = |members| {
        GroupState::create(
            conversation,
            CreateKind::Direct,
            members,
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap()
    };
    let genesis = create(vec![w.alice.member(true), w.bob.member(false)]);
    let direct = GroupState::genesis(&genesis, &w.alice.device.verified).unwrap();
    assert_eq!(direct.kind(), ConversationKind::Direct);
    assert_eq!(direct.naming(), None);
    for members in [
        vec![w.alice.member(true)],
        vec![
            w.alice.member(true),
            w.bob.member(false),
            w.carol.member(false),
        ],
    ] {
        assert_eq!(
            group_err(GroupState::genesis(
                &create(members),
                &w.alice.device.verified
            )),
            GroupError::DirectConversation
        );
    }
    for op in [
        GroupOp::AddMember(w.carol.member(false)),
        GroupOp::Rename {
            name: test_name(1, "alice & bob").commitment(conversation),
        },
    ] {
        let change = direct
            .propose(op, w.alice.master.account(), &w.alice.device.keys, T0)
            .unwrap();
        assert_eq!(
            group_err(direct.apply(&change, &w.alice.device.verified)),
            GroupError::DirectConversation
        );
    }
    // A name sent for a 1:1 matches nothing.
    assert_eq!(
        direct.check_name(&test_name(0, "alice & bob")),
        Err(GroupError::NameMismatch)
    );
    // Leaving still works: the 1:1 is then nobody's.
    let bob_leaves = direct
        .propose(
            GroupOp::RemoveMember {
                account: w.bob.master.account(),
            },
            w.bob.master.account(),
            &w.bob.device.keys,
            T0,
        )
        .unwrap();
    let left = direct.apply(&bob_leaves, &w.bob.device.verified).unwrap();
    assert_eq!(left.members().len(), 1);
}

#[test]
fn a_name_is_accepted_only_if_it_opens_the_commitment_of_its_epoch() {
    let mut w = World::new();
    // The genesis commits to "Case 2026-114" at epoch 0 (support::World).
    assert_eq!(
        w.group.check_name(&test_name(0, "Case 2026-114")),
        Ok(NameCheck::Current)
    );
    let wrong_name = test_name(0, "Case 2026-115");
    let mut wrong_salt = test_name(0, "Case 2026-114");
    wrong_salt.salt[0] ^= 1;
    for reveal in [&wrong_name, &wrong_salt, &test_name(1, "Case 2026-114")] {
        assert_eq!(w.group.check_name(reveal), Err(GroupError::NameMismatch));
    }
    w.alice_changes(GroupOp::AddMember(w.dave.member(false)));
    let renamed = named(&w, 2, "Appeal");
    w.alice_changes(GroupOp::Rename { name: renamed });
    assert_eq!(
        w.group.check_name(&test_name(2, "Appeal")),
        Ok(NameCheck::Current)
    );
    // The old name arriving late is no longer the name, and is no alarm either.
    assert_eq!(
        w.group.check_name(&test_name(0, "Case 2026-114")),
        Ok(NameCheck::Superseded)
    );
    // The same name and salt committed in another conversation match nothing here.
    let mut elsewhere = World::new();
    elsewhere.alice_changes(GroupOp::AddMember(elsewhere.dave.member(false)));
    let foreign =
        test_name(2, "Appeal").commitment(sotto_proto::ids::ConversationId::from_bytes([0x99; 16]));
    assert_ne!(foreign, renamed);
}

#[test]
fn retired_ops_that_carried_names_in_clear_are_refused() {
    let w = World::new();
    // Dave signs a genesis in the retired encoding that lists his own account as "bob".
    let body = retired_create_body(
        sotto_proto::ids::ConversationId::from_bytes([4; 16]),
        w.dave.master.account(),
        w.dave.device.keys.device(),
        T0,
        "Case 2026-114",
        &[
            (w.dave.master.account(), "bob", true),
            (w.carol.master.account(), "carol", false),
        ],
    );
    let signed = Signed::sign(body, w.dave.device.keys.signing()).unwrap();
    let refused = GroupState::genesis(&signed, &w.dave.device.verified).unwrap_err();
    assert_eq!(refused.code(), "decode/unknown-tag");
    for tag in GroupOp::RETIRED {
        let mut body = GroupChange {
            conversation: w.group.conversation(),
            epoch: 1,
            previous: w.group.head(),
            signer_account: w.alice.master.account(),
            signer_device: w.alice.device.keys.device(),
            issued_at: T0,
            op: GroupOp::RemoveMember {
                account: w.carol.master.account(),
            },
        }
        .encode();
        let at = body.len() - 33;
        body[at] = tag;
        assert_eq!(
            GroupChange::decode(&body).unwrap_err().code(),
            "decode/unknown-tag",
            "tag {tag:#04x}"
        );
    }
}

fn retention(secs: u64) -> GroupOp {
    GroupOp::SetRetention {
        retention: Retention::from_secs(secs).unwrap(),
    }
}

#[test]
fn an_admin_sets_the_retention_and_the_same_value_again_is_a_no_op() {
    let mut w = World::new();
    assert_eq!(w.group.retention(), None, "never set: the server default");
    let server_default = Retention::from_secs(30 * 86_400).unwrap();
    assert_eq!(w.group.retention_or(server_default), server_default);
    w.alice_changes(retention(7 * 86_400));
    assert_eq!(w.group.retention().map(Retention::secs), Some(7 * 86_400));
    let again = w
        .group
        .propose(
            retention(7 * 86_400),
            w.alice.master.account(),
            &w.alice.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        group_err(w.group.apply(&again, &w.alice.device.verified)),
        GroupError::NoOp
    );
    w.alice_changes(retention(0));
    assert_eq!(w.group.retention(), Some(Retention::FOREVER));
    assert_eq!(w.group.retention_or(server_default), Retention::FOREVER);
    // A member who is not an admin may not change how long the group keeps its messages.
    let by_bob = w
        .group
        .propose(
            retention(60),
            w.bob.master.account(),
            &w.bob.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        group_err(w.group.apply(&by_bob, &w.bob.device.verified)),
        GroupError::SignerNotAdmin
    );
}

#[test]
fn either_member_of_a_direct_conversation_sets_its_retention() {
    let w = World::new();
    let conversation = sotto_proto::ids::ConversationId::from_bytes([4; 16]);
    let genesis = GroupState::create(
        conversation,
        CreateKind::Direct,
        vec![w.alice.member(true), w.bob.member(false)],
        w.alice.master.account(),
        &w.alice.device.keys,
        T0,
    )
    .unwrap();
    let direct = GroupState::genesis(&genesis, &w.alice.device.verified).unwrap();
    let by_bob = direct
        .propose(
            retention(3_600),
            w.bob.master.account(),
            &w.bob.device.keys,
            T0,
        )
        .unwrap();
    let next = direct.apply(&by_bob, &w.bob.device.verified).unwrap();
    assert_eq!(next.retention().map(Retention::secs), Some(3_600));
    // Someone outside the 1:1 may not.
    let by_carol = next
        .propose(
            retention(60),
            w.carol.master.account(),
            &w.carol.device.keys,
            T0,
        )
        .unwrap();
    assert_eq!(
        group_err(next.apply(&by_carol, &w.carol.device.verified)),
        GroupError::SignerNotMember
    );
}

#[test]
fn a_retention_outside_one_minute_to_ten_years_does_not_decode() {
    let w = World::new();
    for secs in [1u64, 59, 315_360_001, u64::MAX] {
        let mut body = w
            .group
            .propose(
                retention(60),
                w.alice.master.account(),
                &w.alice.device.keys,
                T0,
            )
            .unwrap()
            .unverified_body()
            .to_vec();
        let at = body.len() - 8;
        body[at..].copy_from_slice(&secs.to_be_bytes());
        let err = GroupChange::decode(&body).unwrap_err();
        assert_eq!(err.code(), "decode/invalid-value", "{secs}");
        let signed = Signed::sign(body, w.alice.device.keys.signing()).unwrap();
        let err = w
            .group
            .apply(&signed, &w.alice.device.verified)
            .unwrap_err();
        assert_eq!(err.code(), "decode/invalid-value");
    }
}

#[test]
fn membership_at_an_epoch_is_exact_for_a_member_removed_and_added_again() {
    let mut w = World::new();
    let carol = w.carol.master.account();
    let dave = w.dave.master.account();
    w.alice_changes(GroupOp::RemoveMember { account: carol }); // epoch 1
    w.alice_changes(GroupOp::AddMember(w.dave.member(false))); // epoch 2
    w.alice_changes(GroupOp::AddMember(w.carol.member(false))); // epoch 3
    let at = |epoch| {
        (
            w.group.was_member_at(&carol, epoch),
            w.group.was_member_at(&dave, epoch),
        )
    };
    assert_eq!(at(0), (true, false));
    assert_eq!(at(1), (false, false));
    assert_eq!(at(2), (false, true));
    assert_eq!(at(3), (true, true));
    assert_eq!(at(4), (false, false), "an epoch not applied yet");
    // The same answers from the state as stored and read back.
    let stored = GroupState::decode_local(&w.group.encode_local()).unwrap();
    assert_eq!(stored, w.group);
}

#[test]
fn a_group_state_stored_before_retention_existed_still_loads() {
    let mut w = World::new();
    w.alice_changes(GroupOp::AddMember(w.dave.member(false)));
    let new_form = w.group.encode_local();
    // The first local format ended right after the epoch hashes: one byte saying "no retention"
    // and a zero count of past members were added after them.
    let old_form = &new_form[..new_form.len() - 1 - 4];
    let loaded = GroupState::decode_local(old_form).unwrap();
    assert_eq!(loaded, w.group);
    assert_eq!(loaded.retention(), None);
    // Anything after the new fields is still refused.
    let mut longer = new_form.clone();
    longer.push(0);
    assert!(GroupState::decode_local(&longer).is_err());
}
