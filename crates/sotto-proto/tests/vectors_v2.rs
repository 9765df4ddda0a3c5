//! Checks the protocol version 2 vectors in `test-vectors/v2-prekey.json` and
//! `test-vectors/v2-distribution.json` (written by `examples/gen_vectors_v2.rs`): every positive
//! vector gives exactly the values it states (the distribution's chain key and every intermediate
//! value of §18.5, re-derived from the primitives), every negative one is refused with its code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod v2_vectors;

use serde_json::Value;

fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check(
    name: &str,
    run: fn(&Value, &Value) -> Result<Value, sotto_proto::Error>,
) -> (usize, usize) {
    let file = load(name);
    assert_eq!(file["protocol_version"], 2);
    let (mut positive, mut negative) = (0, 0);
    for v in file["vectors"].as_array().unwrap() {
        let vector = v["name"].as_str().unwrap();
        match (run(&file, v), v.get("expected_error")) {
            (Ok(got), None) => {
                assert_eq!(got, v["expected"], "{name}: {vector}");
                positive += 1;
            }
            (Err(e), Some(code)) => {
                assert_eq!(e.code(), code, "{name}: {vector}");
                negative += 1;
            }
            (got, want) => panic!("{name}: {vector}: got {got:?}, want {want:?}"),
        }
    }
    (positive, negative)
}

#[test]
fn prekeys_and_certificates() {
    let (positive, negative) = check("v2-prekey.json", v2_vectors::run_prekey);
    assert!(positive >= 4 && negative >= 20, "{positive} / {negative}");
}

#[test]
fn distributions() {
    let (positive, negative) = check("v2-distribution.json", v2_vectors::run_distribution);
    assert!(positive >= 3 && negative >= 20, "{positive} / {negative}");
}
