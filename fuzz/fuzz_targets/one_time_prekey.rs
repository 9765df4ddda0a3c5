//! Fuzz target `one_time_prekey`: see `fuzz/targets_common.rs`.

#![no_main]

#[path = "../targets_common.rs"]
mod targets_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets_common::one_time_prekey(data));
