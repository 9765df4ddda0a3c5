//! Fuzz target `client_server_answer`: see `fuzz/server_targets.rs`.

#![no_main]

#[path = "../server_targets.rs"]
mod server_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| server_targets::server_answer(data));
