//! Shared fixtures for the protocol integration tests: four accounts on fixed keys, a group, and
//! helpers to start chains, distribute them and send messages.

#![allow(dead_code)]

use std::collections::BTreeSet;

use sotto_proto::body::MessageBody;
use sotto_proto::chain::{LocalDevice, ReceiverState, SenderChain};
use sotto_proto::distribution::KeyDistribution;
use sotto_proto::env::{DangerSeededRng, Env, Timestamp};
use sotto_proto::envelope::Envelope;
use sotto_proto::group::{GroupOp, GroupState};
use sotto_proto::ids::{ConversationId, DeviceId, MessageId};
use sotto_proto::signed::Signed;
use sotto_proto::testing::{TestAccount, T0};

#[derive(Clone, Copy)]
pub enum Who {
    Alice,
    Bob,
    Carol,
    Dave,
}

pub struct World {
    pub alice: TestAccount,
    pub bob: TestAccount,
    pub carol: TestAccount,
    pub dave: TestAccount,
    pub rng: DangerSeededRng,
    pub log: Vec<Signed>,
    pub group: GroupState,
}

impl World {
    /// Alice (admin), Bob and Carol in one conversation; Dave outside.
    pub fn new() -> Self {
        let alice = TestAccount::new(0, "alice");
        let bob = TestAccount::new(1, "bob");
        let carol = TestAccount::new(2, "carol");
        let dave = TestAccount::new(3, "dave");
        let conversation = ConversationId::from_bytes([0x11; 16]);
        let genesis = GroupState::create(
            conversation,
            sotto_proto::testing::group_kind(conversation, "Case 2026-114"),
            vec![alice.member(true), bob.member(false), carol.member(false)],
            alice.master.account(),
            &alice.device.keys,
            T0,
        )
        .unwrap();
        let group = GroupState::genesis(&genesis, &alice.device.verified).unwrap();
        Self {
            alice,
            bob,
            carol,
            dave,
            rng: DangerSeededRng::new([0x42; 32]),
            log: vec![genesis],
            group,
        }
    }

    pub fn env(&mut self, now: Timestamp) -> Env<'_> {
        Env::new(now, &mut self.rng)
    }

    /// Alice proposes and applies a change.
    pub fn alice_changes(&mut self, op: GroupOp) -> Signed {
        let change = self
            .group
            .propose(op, self.alice.master.account(), &self.alice.device.keys, T0)
            .unwrap();
        self.group = self
            .group
            .apply(&change, &self.alice.device.verified)
            .unwrap();
        self.log.push(change.clone());
        change
    }

    pub fn account(&self, who: Who) -> &TestAccount {
        match who {
            Who::Alice => &self.alice,
            Who::Bob => &self.bob,
            Who::Carol => &self.carol,
            Who::Dave => &self.dave,
        }
    }

    pub fn start_chain(&mut self, who: Who) -> SenderChain {
        let conversation = self.group.conversation();
        let epoch = self.group.epoch();
        let account = self.account(who).master.account();
        let device = self.account(who).device.keys.device();
        let mut env = Env::new(T0, &mut self.rng);
        SenderChain::start(conversation, epoch, account, device, None, &mut env).unwrap()
    }
}

pub fn local(account: &TestAccount) -> LocalDevice<'_> {
    LocalDevice {
        prekeys: sotto_proto::PrekeyRing::empty(),
        account: account.master.account(),
        device: account.device.keys.device(),
        exchange_keys: std::slice::from_ref(&account.device.exchange),
    }
}

pub fn distribute(
    chain: &mut SenderChain,
    group: &GroupState,
    from: &TestAccount,
    to: &TestAccount,
) -> KeyDistribution {
    chain
        .distribute(group, &to.device.verified_exchange, &from.device.keys, T0)
        .unwrap()
}

pub fn text(s: &str) -> MessageBody {
    MessageBody::Text(s.to_owned())
}

pub fn send(chain: &mut SenderChain, from: &TestAccount, body: &str, id: u8) -> Envelope {
    let reserved = chain.reserve(T0).unwrap();
    reserved
        .seal(
            &text(body),
            MessageId::from_bytes([id; 16]),
            T0,
            &from.device.keys,
        )
        .unwrap()
}

pub fn received_text(msg: &sotto_proto::chain::ReceivedMessage) -> String {
    match &msg.body {
        MessageBody::Text(t) => t.clone(),
        other => panic!("not text: {other:?}"),
    }
}

pub fn devices(accounts: &[&TestAccount]) -> BTreeSet<DeviceId> {
    accounts.iter().map(|a| a.device.keys.device()).collect()
}

/// A receiver that has accepted `kdm` from `from`.
pub fn receiver_with(
    world: &World,
    kdm: &KeyDistribution,
    from: &TestAccount,
    to: &TestAccount,
) -> ReceiverState {
    let mut state = ReceiverState::new();
    state
        .accept_distribution(kdm, &from.device.verified, &local(to), &world.group, T0)
        .unwrap();
    state
}
