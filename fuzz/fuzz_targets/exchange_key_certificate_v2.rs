//! Fuzz target `exchange_key_certificate_v2`: see `fuzz/targets_common.rs`.

#![no_main]

#[path = "../targets_common.rs"]
mod targets_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets_common::exchange_key_certificate_v2(data));
