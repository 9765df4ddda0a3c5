//! End to end: one `sotto recv` works through a queue flooded with forged envelopes. A member of
//! a conversation with alice (or the relay) can queue thousands of envelopes whose headers are
//! valid and whose signatures are not; alice's client must verify and refuse each of them while
//! it keeps reading its socket, acknowledge them as it goes, and show every honest message
//! queued among them, without the server cutting it as a slow reader.
//!
//! The opt-in benchmark at the bottom (`--ignored`, run by `bench/drain.sh`) times the same
//! drain with 10,000 forged envelopes of the size of a short text message; its figures are in
//! `bench/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sotto_proto::envelope::Envelope;
use sotto_proto::ids::{DeviceId, MessageId};
use sotto_proto::signed::SignedSealed;
use sotto_server::store::{NewEnvelope, WriteOp};
use sotto_server::ws::stop::Stop;
use support::{Profile, TestServer};

/// Padded length of a forged envelope's (garbage) ciphertext in the test: a valid size bucket,
/// large enough that a few hundred of them fill the socket buffers of a client that stops
/// reading.
const LARGE_FORGERY: u32 = 16 * 1024;
/// The same in the benchmark: the size bucket of a short text message, the cheapest forgery to
/// send in bulk.
const SMALL_FORGERY: u32 = 1024;

/// The world of one drain: alice's queue holds `forged` envelopes of `padded_len` claiming to
/// come from
/// mallory's real device in their real conversation (valid headers, garbage ciphertext and
/// signatures), with `good` honest messages from bob queued before, among and after them.
struct Flooded {
    server: TestServer,
    alice: Profile,
    alice_device: DeviceId,
    good: Vec<String>,
}

fn flood(
    forged: usize,
    padded_len: u32,
    good: usize,
    tweak: impl FnOnce(&mut sotto_server::config::Config),
) -> Flooded {
    let server = TestServer::start_with(|c| {
        c.limits.max_queue_per_device = 100_000;
        tweak(c);
    });
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    let mallory = server.profile("mallory");
    alice.register();
    bob.register();
    mallory.register();
    let alice_device: DeviceId = alice.status("device").parse().unwrap();

    // Mallory's one genuine message gives the forgeries a real conversation, epoch, sender
    // account and device; alice reads it (and so knows the conversation and mallory's device).
    mallory.ok(&["send", "alice", "hello from mallory"]);
    let store = server.store();
    let template = server
        .runtime
        .block_on(store.pending(&alice_device, 0, 100))
        .unwrap()
        .into_iter()
        .find(|d| Envelope::decode(&d.body).is_ok())
        .expect("mallory's message is queued for alice");
    assert_eq!(alice.recv_texts(), vec!["hello from mallory".to_owned()]);
    // Alice accepts mallory's conversation: a request would take only `max_request_envelopes`.
    alice.ok(&["accept", &template.conversation.to_string()]);
    let mallory_user = server
        .runtime
        .block_on(store.user_by_name("mallory"))
        .unwrap()
        .unwrap();
    let genuine = Envelope::decode(&template.body).unwrap();

    let mut texts = Vec::new();
    let mut send_good = |range: std::ops::Range<usize>| {
        for i in range {
            let text = format!("honest message {i}");
            bob.ok(&["send", "alice", &text]);
            texts.push(text);
        }
    };
    send_good(0..good / 2);
    let mut ops = Vec::with_capacity(forged);
    for i in 0..forged {
        let mut header = genuine.header().clone();
        let mut id = [0xF0u8; 16];
        id[..8].copy_from_slice(&(i as u64).to_be_bytes());
        header.message_id = MessageId::from_bytes(id);
        header.padded_len = padded_len;
        let ciphertext: Vec<u8> = (0..padded_len as usize + 16)
            .map(|b| (b as u8) ^ (i as u8))
            .collect();
        let body = SignedSealed::from_parts(header.encode(), ciphertext, vec![0x5A; 384]).encode();
        ops.push(WriteOp::Enqueue(NewEnvelope {
            message: header.message_id,
            conversation: template.conversation,
            sender_user: mallory_user.id,
            sender_account: template.sender_account,
            sender_device: template.sender_device,
            received_at: template.received_at,
            to: Some(alice_device),
            body,
        }));
    }
    for chunk in ops.chunks(500) {
        server
            .runtime
            .block_on(store.write_batch(chunk, 100_000))
            .unwrap();
    }
    send_good(good / 2..good);
    // Bob's key distribution is queued too.
    assert!(queued(&server, alice_device) > forged + good);
    Flooded {
        server,
        alice,
        alice_device,
        good: texts,
    }
}

/// Copies still queued for `device` on the server.
fn queued(server: &TestServer, device: DeviceId) -> usize {
    server
        .runtime
        .block_on(server.store().pending(&device, 0, 1_000_000))
        .unwrap()
        .len()
}

/// Sockets the server dropped because a write to them timed out.
fn slow_reader_drops(server: &TestServer) -> u64 {
    let state = &server.server.as_ref().unwrap().state;
    state.metrics.ws_closed[Stop::SlowReader.index()].load(Ordering::Relaxed)
}

/// One `sotto recv`: every good message printed once, in order, the queue empty, no socket cut.
fn drain(flooded: &Flooded, forged: usize) -> Duration {
    let started = Instant::now();
    let run = flooded.alice.run(&["recv"]);
    let took = started.elapsed();
    assert_eq!(run.code, 0, "sotto recv failed:\n{}", run.stderr);
    let texts: Vec<String> = run
        .json_lines()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    let tail = &run.stderr[run.stderr.len().saturating_sub(1500)..];
    assert_eq!(
        texts,
        flooded.good,
        "every honest message, once, in order; {} left queued; {} refused; stderr ends:\n{tail}",
        queued(&flooded.server, flooded.alice_device),
        run.stderr.matches(": bad-signature (not shown)").count(),
    );
    assert_eq!(
        run.stderr.matches(": bad-signature (not shown)").count(),
        forged,
        "every forged envelope is refused and reported"
    );
    assert_eq!(
        queued(&flooded.server, flooded.alice_device),
        0,
        "everything was acknowledged"
    );
    assert_eq!(slow_reader_drops(&flooded.server), 0, "no socket was cut");
    assert_eq!(
        flooded.alice.status("undecryptable"),
        forged.to_string(),
        "each refusal was counted once"
    );
    took
}

#[test]
fn one_recv_drains_thousands_of_forged_envelopes_and_shows_every_honest_message() {
    const FORGED: usize = 2_500;
    // A tight write timeout: a client that leaves its socket unread while it verifies is cut
    // within 2 s (the default is 15 s).
    let flooded = flood(FORGED, LARGE_FORGERY, 10, |c| {
        c.limits.ws_send_timeout_secs = 2
    });
    let took = drain(&flooded, FORGED);
    eprintln!("drained {FORGED} forged + 10 honest envelopes in {took:?}");
}

/// Opt-in benchmark (`bench/drain.sh`): the time one `sotto recv` takes to drain 10,000 forged
/// envelopes (1 KiB bucket) and 10 honest messages, over a few runs (each on a fresh server and
/// profile).
#[test]
#[ignore = "benchmark: run with --ignored (bench/drain.sh)"]
fn bench_drain_10000_forged_envelopes() {
    const FORGED: usize = 10_000;
    let runs: usize = std::env::var("SOTTO_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let mut times = Vec::new();
    for run in 0..runs {
        let flooded = flood(FORGED, SMALL_FORGERY, 10, |_| {});
        let took = drain(&flooded, FORGED);
        eprintln!("run {run}: {took:?}");
        times.push(took);
    }
    times.sort();
    eprintln!(
        "drain of {FORGED} forged + 10 honest envelopes: median {:?} over {runs} runs (min {:?}, max {:?})",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}
