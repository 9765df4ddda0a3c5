//! Fuzz target `server_relay_log`: see `fuzz/server_targets.rs`.

#![no_main]

#[path = "../server_targets.rs"]
mod server_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| server_targets::relay_log(data));
