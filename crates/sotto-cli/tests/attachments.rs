//! End to end, attachments whose file name no recipient would accept: the real server and the
//! real `sotto` binary. The sender refuses such a name itself, before the file is read, uploaded
//! or sent, instead of sending a message every recipient reports as `decryption-failed`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::TestServer;

#[test]
fn a_file_name_with_a_newline_or_another_control_character_is_refused_at_the_sender() {
    let server = TestServer::start();
    let alice = server.profile("alice");
    let bob = server.profile("bob");
    alice.register();
    bob.register();

    for name in [
        "a\nb.txt",
        "bell\u{7}.txt",
        "esc\u{1b}[31m.txt",
        " leading-space.txt",
    ] {
        let file = alice.path().join(name);
        std::fs::write(&file, b"contents").unwrap();
        let run = alice.run(&["send", "bob", "--file", file.to_str().unwrap(), "caption"]);
        assert_eq!(
            run.code, 2,
            "{name:?} was not refused:\n{}\n{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stderr.contains("cannot send: file name must be"),
            "{name:?}: {}",
            run.stderr
        );
    }

    // Nothing of the refused sends reached bob; a good name still goes through.
    let file = alice.path().join("fine name.txt");
    std::fs::write(&file, b"contents").unwrap();
    alice.ok(&[
        "send",
        "bob",
        "--file",
        file.to_str().unwrap(),
        "the good one",
    ]);
    let (got, run) = bob.recv();
    assert_eq!(got.len(), 1, "{}", run.stderr);
    assert_eq!(got[0]["text"], "the good one");
    assert_eq!(got[0]["attachment"]["name"], "fine name.txt");
    assert_eq!(bob.status("undecryptable"), "0");
}
