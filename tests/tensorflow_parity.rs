//! Forward and backward passes against TensorFlow's own results (tests/fixtures, made by
//! scripts/make_fixtures.py with tensorflow-cpu 2.21). Tolerance: 1e-5 absolute plus 1e-5
//! relative — f32 sums of up to ~100 products of values in [-1, 1] differ from TensorFlow's
//! summation order by a few units in the last place, far below that.

mod common;

use common::{assert_case_close, fixture_cases, padding, pair, tensor};
use convnets::activation::softmax;
use convnets::layer::Param;
use convnets::loss::{categorical_crossentropy, softmax_crossentropy, softmax_crossentropy_grad};
use convnets::optim::RmsProp;
use convnets::{Activation, AveragePooling2D, Conv2D, Dense, Layer, MaxPooling2D, Tensor};

const ATOL: f32 = 1e-5;
const RTOL: f32 = 1e-5;

#[test]
fn conv2d_matches_tensorflow() {
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

        let dx = conv.backward(&tensor(&case["dy"])).unwrap();
        assert_case_close(case, "dx", dx.data(), tensor(&case["dx"]).data(), ATOL, RTOL);
        assert_case_close(case, "dkernel", conv.kernel_grad(), tensor(&case["dkernel"]).data(), ATOL, RTOL);
        assert_case_close(case, "dbias", conv.bias_grad(), tensor(&case["dbias"]).data(), ATOL, RTOL);
    }
}

#[test]
fn pooling_matches_tensorflow() {
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

        let dx = layer.backward(&tensor(&case["dy"])).unwrap();
        assert_case_close(case, "dx", dx.data(), tensor(&case["dx"]).data(), ATOL, RTOL);
    }
}

#[test]
fn dense_matches_tensorflow() {
    for case in &fixture_cases("dense.json") {
        let activation = match case["activation"].as_str().unwrap() {
            "relu" => Activation::Relu,
            _ => Activation::Linear,
        };
        let mut dense = Dense::with_weights(tensor(&case["kernel"]), tensor(&case["bias"]).into_data())
            .unwrap()
            .activation(activation);
        let y = dense.forward(&tensor(&case["x"])).unwrap();
        assert_case_close(case, "y", y.data(), tensor(&case["y"]).data(), ATOL, RTOL);
        let dx = dense.backward(&tensor(&case["dy"])).unwrap();
        assert_case_close(case, "dx", dx.data(), tensor(&case["dx"]).data(), ATOL, RTOL);
        assert_case_close(case, "dkernel", dense.kernel_grad(), tensor(&case["dkernel"]).data(), ATOL, RTOL);
        assert_case_close(case, "dbias", dense.bias_grad(), tensor(&case["dbias"]).data(), ATOL, RTOL);
    }
}

#[test]
fn softmax_crossentropy_matches_tensorflow() {
    for case in &fixture_cases("crossentropy.json") {
        let logits = tensor(&case["logits"]);
        let classes = logits.shape()[1];
        let mut probs = logits.clone();
        for row in probs.data_mut().chunks_mut(classes) {
            softmax(row);
        }
        assert_case_close(case, "probs", probs.data(), tensor(&case["probs"]).data(), 1e-7, RTOL);
        let targets = tensor(&case["targets"]);
        let loss = softmax_crossentropy(&logits, &targets).unwrap() as f32;
        let expected = case["loss"].as_f64().unwrap() as f32;
        assert_case_close(case, "loss", &[loss], &[expected], ATOL, RTOL);
        let loss = categorical_crossentropy(&tensor(&case["probs"]), &targets).unwrap() as f32;
        let expected = case["loss_from_probs"].as_f64().unwrap() as f32;
        assert_case_close(case, "loss_from_probs", &[loss], &[expected], ATOL, RTOL);
        let grad = softmax_crossentropy_grad(&probs, &targets).unwrap();
        assert_case_close(case, "dlogits", grad.data(), tensor(&case["dlogits"]).data(), 1e-7, RTOL);
    }
}

#[test]
fn rmsprop_two_steps_match_tensorflow() {
    let case = &fixture_cases("rmsprop.json")[0];
    let mut opt = RmsProp::default();
    assert_eq!(opt.learning_rate, case["learning_rate"].as_f64().unwrap() as f32);
    assert_eq!(opt.rho, case["rho"].as_f64().unwrap() as f32);
    assert_eq!(opt.epsilon, case["epsilon"].as_f64().unwrap() as f32);
    assert_eq!(case["momentum"].as_f64(), Some(0.0));
    assert_eq!(case["centered"].as_bool(), Some(false));
    let mut w: Tensor = tensor(&case["w0"]);
    for (g, expected) in [("g1", "w1"), ("g2", "w2")] {
        let grad = tensor(&case[g]);
        opt.step(vec![Param { value: w.data_mut(), grad: grad.data() }]).unwrap();
        assert_case_close(case, expected, w.data(), tensor(&case[expected]).data(), 1e-7, 1e-6);
    }
}
