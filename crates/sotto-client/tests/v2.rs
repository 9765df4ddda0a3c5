//! Protocol version 2 between real clients over a real server and TLS (`docs/protocol.md` §18):
//! one-time prekeys handed out once and deleted by the receiver when the distribution commits,
//! the last-resort prekey when none is left, a device that runs version 1 next to version-2
//! devices, re-keying, and a version-1 distribution to a version-2 exchange key refused as a
//! downgrade.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use sotto_client::prekeys::PrekeyStatus;
use sotto_client::sync::Event;
use sotto_proto::distribution::PrekeyKind;
use sotto_proto::ids::DeviceId;
use sotto_proto::Timestamp;
use support::forge::{now, RawChain};
use support::{blob, User, World};

fn status(user: &mut User, rt: &tokio::runtime::Runtime) -> PrekeyStatus {
    rt.block_on(user.c().prekey_status()).unwrap()
}

/// The prekey kind of each key distribution queued for `device`, oldest first (`None`: a
/// version-1 distribution).
fn queued_kinds(w: &World, device: DeviceId) -> Vec<Option<PrekeyKind>> {
    w.kdms_for(device)
        .iter()
        .map(|(_, kdm)| kdm.header().hybrid.as_ref().map(|h| h.prekey_kind))
        .collect()
}

#[test]
fn a_chain_between_version_2_devices_uses_a_one_time_prekey_handed_out_once_and_deleted_on_commit()
{
    let mut w = World::new();
    let before = status(&mut w.bob, &w.rt);
    assert_eq!(before.version, 2);
    assert!(
        before.last_resort,
        "bob's certificate carries a last-resort prekey"
    );
    assert!(before.server_remaining >= 20, "{before:?}");
    let on_server = w.prekey_ids(w.bob.device);
    assert_eq!(on_server.len() as u64, before.server_remaining);

    w.alice.send(&w.rt, "bob", "hybrid hello").unwrap();
    let kdms = w.kdms_for(w.bob.device);
    assert_eq!(kdms.len(), 1, "one distribution for bob's one device");
    let hybrid = kdms[0]
        .1
        .header()
        .hybrid
        .clone()
        .expect("a version-2 distribution");
    assert_eq!(hybrid.prekey_kind, PrekeyKind::OneTime);
    // The server handed out its oldest prekey of bob's, and deleted it.
    assert_eq!(hybrid.prekey.as_bytes().to_vec(), on_server[0]);
    let left = w.prekey_ids(w.bob.device);
    assert_eq!(left.len(), on_server.len() - 1);
    assert!(!left.contains(&on_server[0]));

    assert_eq!(w.bob.recv(&w.rt).texts(), ["hybrid hello"]);
    let after = status(&mut w.bob, &w.rt);
    assert_eq!(after.server_remaining, before.server_remaining - 1);
    assert_eq!(
        after.held,
        before.held - 1,
        "bob deleted the used prekey's private keys"
    );

    // The same the other way: bob's reply starts bob's chain under one of alice's prekeys.
    let alice_before = status(&mut w.alice, &w.rt);
    w.bob.send(&w.rt, "alice", "hybrid reply").unwrap();
    assert_eq!(
        queued_kinds(&w, w.alice.device),
        [Some(PrekeyKind::OneTime)]
    );
    assert!(w
        .alice
        .recv(&w.rt)
        .texts()
        .contains(&"hybrid reply".to_owned()));
    let alice_after = status(&mut w.alice, &w.rt);
    assert_eq!(
        alice_after.server_remaining,
        alice_before.server_remaining - 1
    );
    assert_eq!(alice_after.held, alice_before.held - 1);
}

#[test]
fn a_version_1_device_and_a_version_2_device_talk_both_ways_each_sent_its_own_version() {
    let mut w = World::new();
    let mut erin = w.register("erin", true);
    let erins = status(&mut erin, &w.rt);
    assert_eq!(erins.version, 1);
    assert!(!erins.last_resort);
    assert_eq!(erins.held, 0);
    assert!(w.prekey_ids(erin.device).is_empty(), "no prekeys uploaded");

    // Bob (version 2) to erin: a version-1 distribution.
    let sent = w.bob.send(&w.rt, "erin", "to a version-1 device").unwrap();
    assert_eq!(queued_kinds(&w, erin.device), [None]);
    assert_eq!(erin.recv(&w.rt).texts(), ["to a version-1 device"]);

    // Erin to bob: a version-2 distribution (erin's client reads version-2 certificates).
    w.rt.block_on(erin.c().accept(sent.conversation)).unwrap();
    let bobs = status(&mut w.bob, &w.rt);
    erin.send(
        &w.rt,
        &sent.conversation.to_string(),
        "from a version-1 device",
    )
    .unwrap();
    assert_eq!(queued_kinds(&w, w.bob.device), [Some(PrekeyKind::OneTime)]);
    assert_eq!(w.bob.recv(&w.rt).texts(), ["from a version-1 device"]);
    assert_eq!(status(&mut w.bob, &w.rt).held, bobs.held - 1);
}

#[test]
fn with_every_one_time_prekey_gone_the_last_resort_prekey_carries_the_chain_and_more_are_uploaded()
{
    let mut w = World::new();
    // The server has none left for bob (claimed by others, or withheld).
    let deleted = w.sql(
        "DELETE FROM prekeys WHERE device = ?1",
        &[blob(w.bob.device.as_bytes())],
    );
    assert!(deleted >= 20);
    assert_eq!(status(&mut w.bob, &w.rt).server_remaining, 0);

    w.alice.send(&w.rt, "bob", "under the last resort").unwrap();
    assert_eq!(
        queued_kinds(&w, w.bob.device),
        [Some(PrekeyKind::LastResort)]
    );
    assert_eq!(w.bob.recv(&w.rt).texts(), ["under the last resort"]);
    // The receive saw the server's count and uploaded a full set.
    assert_eq!(status(&mut w.bob, &w.rt).server_remaining, 100);

    // A second chain to bob (another conversation) is under a one-time prekey again.
    w.carol.send(&w.rt, "bob", "one-time again").unwrap();
    assert_eq!(queued_kinds(&w, w.bob.device), [Some(PrekeyKind::OneTime)]);
    assert_eq!(w.bob.recv(&w.rt).texts(), ["one-time again"]);
}

#[test]
fn after_a_rekey_the_old_prekeys_are_gone_new_chains_start_and_messages_still_flow() {
    let mut w = World::new();
    let team = w.team.to_string();
    w.bob.send(&w.rt, &team, "before the rekey").unwrap();
    assert_eq!(w.alice.recv(&w.rt).texts(), ["before the rekey"]);
    assert_eq!(w.carol.recv(&w.rt).texts(), ["before the rekey"]);
    let before = status(&mut w.bob, &w.rt);
    let old_ids = w.prekey_ids(w.bob.device);
    assert!(!old_ids.is_empty());

    let after = w.rt.block_on(w.bob.c().rekey()).unwrap();
    assert_eq!(
        after.exchange_key_serial,
        before.exchange_key_serial.map(|s| s + 1)
    );
    assert!(after.last_resort);
    assert_eq!(after.server_remaining, 100);
    assert_eq!(after.held, 100, "only the new set is held");
    let new_ids = w.prekey_ids(w.bob.device);
    assert_eq!(new_ids.len(), 100);
    assert!(
        old_ids.iter().all(|id| !new_ids.contains(id)),
        "the server deleted every old prekey"
    );

    // Bob's next message starts a new chain: distributions to alice and carol under their
    // one-time prekeys.
    w.bob.send(&w.rt, &team, "after the rekey").unwrap();
    assert_eq!(
        queued_kinds(&w, w.alice.device),
        [Some(PrekeyKind::OneTime)]
    );
    assert_eq!(w.alice.recv(&w.rt).texts(), ["after the rekey"]);
    assert_eq!(w.carol.recv(&w.rt).texts(), ["after the rekey"]);

    // A new chain to bob goes to the new exchange key and one of the new prekeys.
    w.carol
        .send(&w.rt, "bob", "to the re-keyed device")
        .unwrap();
    let kdms = w.kdms_for(w.bob.device);
    let hybrid = kdms[0].1.header().hybrid.clone().unwrap();
    assert!(new_ids.contains(&hybrid.prekey.as_bytes().to_vec()));
    assert_eq!(w.bob.recv(&w.rt).texts(), ["to the re-keyed device"]);
}

#[test]
fn a_version_1_distribution_to_a_version_2_exchange_key_is_refused_as_a_downgrade_and_reported() {
    let mut w = World::new();
    let group = w.carol.group(&w.rt, w.team);
    // What a sender shown an old version-1 certificate of bob's exchange key would send: a
    // version-1 distribution to the key bob certified with version 2.
    let bob = w.carol.lookup(&w.rt, "bob").unwrap();
    let device = bob
        .devices
        .iter()
        .find(|d| d.device() == w.bob.device)
        .unwrap();
    let v1 = w
        .bob
        .keys()
        .certify_exchange_key(
            w.bob.account,
            w.bob.exchange().encrypting_key(),
            1,
            Timestamp(now().millis() - Timestamp::HOUR),
            Timestamp(now().millis() + Timestamp::DAY),
        )
        .unwrap();
    let v1_key = device.verify_exchange_key(&v1, now(), None).unwrap();
    assert!(!v1_key.is_v2());
    let mut chain = RawChain::of(&w.carol, &group);
    let kdm = chain.distribute(&group, &v1_key);
    assert!(kdm.header().hybrid.is_none());
    let envelope = chain.seal("never shown");
    let from = (w.carol.account, w.carol.device);
    w.inject_raw(w.bob.device, w.team, from, kdm.encode());
    w.inject_raw(w.bob.device, w.team, from, envelope.encode());

    let got = w.bob.recv(&w.rt);
    assert!(got.texts().is_empty(), "{:?}", got.events);
    let downgrades = got
        .events
        .iter()
        .filter(|e| matches!(e, Event::Downgrade { .. }))
        .count();
    assert_eq!(downgrades, 1, "{:?}", got.events);
    assert_eq!(status(&mut w.bob, &w.rt).downgrades, 1);

    // Carol's honest client still reaches bob (version 2, one-time prekey).
    w.carol.send(&w.rt, &w.team.to_string(), "honest").unwrap();
    assert_eq!(w.bob.recv(&w.rt).texts(), ["honest"]);
}
