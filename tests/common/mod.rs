//! Helpers shared by the integration tests.
#![allow(dead_code)]

use convnets::Tensor;
use serde_json::Value;

/// Reads `tests/fixtures/<file>` (written by `scripts/make_fixtures.py`) and returns its cases.
pub fn fixture_cases(file: &str) -> Vec<Value> {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let json: Value = serde_json::from_str(&text).expect("fixture is valid JSON");
    json["cases"].as_array().expect("fixture has cases").clone()
}

/// A `{"shape": [...], "data": [...]}` object as a tensor.
pub fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> =
        v["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data: Vec<f32> = v["data"].as_array().unwrap().iter().map(|d| d.as_f64().unwrap() as f32).collect();
    Tensor::new(&shape, data).unwrap()
}

/// A JSON pair `[a, b]` as a tuple.
pub fn pair(v: &Value) -> (usize, usize) {
    (v[0].as_u64().unwrap() as usize, v[1].as_u64().unwrap() as usize)
}

/// `"valid"` or `"same"` as a [`convnets::Padding`].
pub fn padding(v: &Value) -> convnets::Padding {
    match v.as_str().unwrap() {
        "valid" => convnets::Padding::Valid,
        "same" => convnets::Padding::Same,
        other => panic!("unknown padding {other}"),
    }
}

/// Like [`convnets::testing::assert_close`], naming the fixture case in the failure.
#[track_caller]
pub fn assert_case_close(case: &Value, what: &str, actual: &[f32], expected: &[f32], atol: f32, rtol: f32) {
    if let Some((i, a, e)) = convnets::testing::first_mismatch(actual, expected, atol, rtol) {
        panic!("{} {what}: index {i}: got {a}, TensorFlow {e} (atol {atol}, rtol {rtol})", case["name"]);
    }
}
