//! Fuzz target `prekey_ring`: see `fuzz/targets_common.rs`.

#![no_main]

#[path = "../targets_common.rs"]
mod targets_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets_common::prekey_ring(data));
