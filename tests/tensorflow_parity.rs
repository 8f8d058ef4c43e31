//! Forward passes against TensorFlow's own results (tests/fixtures, made by
//! scripts/make_fixtures.py with tensorflow-cpu 2.21). Tolerance: 1e-5 absolute plus 1e-5
//! relative — f32 sums of up to 75 products of values in [-1, 1] differ from TensorFlow's
//! summation order by a few units in the last place, far below that.

mod common;

use common::{assert_case_close, fixture_cases, padding, pair, tensor};
use convnets::{AveragePooling2D, Conv2D, Layer, MaxPooling2D};

const ATOL: f32 = 1e-5;
const RTOL: f32 = 1e-5;

#[test]
fn conv2d_forward_matches_tensorflow() {
    let cases = fixture_cases("conv2d.json");
    assert!(cases.len() >= 12);
    for case in &cases {
        let bias = tensor(&case["bias"]).into_data();
        let mut conv = Conv2D::with_weights(tensor(&case["kernel"]), bias)
            .unwrap()
            .strides(pair(&case["strides"]))
            .padding(padding(&case["padding"]));
        let y = conv.forward(&tensor(&case["x"])).unwrap();
        let expected = tensor(&case["y"]);
        assert_eq!(y.shape(), expected.shape(), "{}", case["name"]);
        assert_case_close(case, "y", y.data(), expected.data(), ATOL, RTOL);
    }
}

#[test]
fn pooling_forward_matches_tensorflow() {
    let cases = fixture_cases("pooling.json");
    assert!(cases.len() >= 9);
    for case in &cases {
        let (pool, strides, pad) = (pair(&case["pool"]), pair(&case["strides"]), padding(&case["padding"]));
        let mut layer: Box<dyn Layer> = match case["kind"].as_str().unwrap() {
            "max" => Box::new(MaxPooling2D::new(pool).strides(strides).padding(pad)),
            _ => Box::new(AveragePooling2D::new(pool).strides(strides).padding(pad)),
        };
        let y = layer.forward(&tensor(&case["x"])).unwrap();
        let expected = tensor(&case["y"]);
        assert_eq!(y.shape(), expected.shape(), "{}", case["name"]);
        assert_case_close(case, "y", y.data(), expected.data(), ATOL, RTOL);
    }
}
