//! Fuzz target `server_fanout_wire`: see `fuzz/server_targets.rs`.

#![no_main]

#[path = "../server_targets.rs"]
mod server_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| server_targets::fanout_wire(data));
