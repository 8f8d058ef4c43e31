//! Every backward pass against finite differences (see `convnets::gradcheck` for the choice
//! of ε = 1e-2 and the tolerance 1e-3 + 1e-3·|g|), over random geometries.

mod common;

use common::values;
use convnets::gradcheck::{Tolerance, check_layer, check_model};
use convnets::init::Init;
use convnets::metrics::to_categorical;
use convnets::{Activation, AveragePooling2D, Conv2D, Dense, Flatten, Layer, MaxPooling2D, Padding, Tensor};
use proptest::prelude::*;

fn padding(same: bool) -> Padding {
    if same { Padding::Same } else { Padding::Valid }
}

/// Distinct values spaced 0.05 apart, shuffled: max pooling has no ties within ε.
fn distinct_values(len: usize, seed: u64) -> Vec<f32> {
    let keys = values(len, seed);
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
    let mut out = vec![0.0; len];
    for (rank, &i) in order.iter().enumerate() {
        out[i] = rank as f32 * 0.05 - len as f32 * 0.025;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn conv_gradients_match_finite_differences(
        n in 1usize..3, h in 1usize..7, w in 1usize..7, c in 1usize..3, f in 1usize..3,
        kh in 1usize..4, kw in 1usize..4, sh in 1usize..3, sw in 1usize..3, same: bool, seed: u64,
    ) {
        prop_assume!(same || (kh <= h && kw <= w));
        let kernel = Tensor::new(&[kh, kw, c, f], values(kh * kw * c * f, seed)).unwrap();
        let mut conv = Conv2D::with_weights(kernel, values(f, seed + 1)).unwrap().strides((sh, sw)).padding(padding(same));
        let x = Tensor::new(&[n, h, w, c], values(n * h * w * c, seed + 2)).unwrap();
        check_layer(&mut conv, &x, seed, Tolerance::default()).unwrap().assert_passed();
    }

    #[test]
    fn max_pool_gradients_match_finite_differences(
        n in 1usize..3, h in 1usize..7, w in 1usize..7, c in 1usize..3,
        p in 1usize..4, s in 1usize..3, same: bool, seed: u64,
    ) {
        prop_assume!(same || (p <= h && p <= w));
        let mut pool = MaxPooling2D::new((p, p)).strides((s, s)).padding(padding(same));
        let x = Tensor::new(&[n, h, w, c], distinct_values(n * h * w * c, seed)).unwrap();
        check_layer(&mut pool, &x, seed, Tolerance::default()).unwrap().assert_passed();
    }

    #[test]
    fn average_pool_gradients_match_finite_differences(
        n in 1usize..3, h in 1usize..7, w in 1usize..7, c in 1usize..3,
        p in 1usize..4, s in 1usize..3, same: bool, seed: u64,
    ) {
        prop_assume!(same || (p <= h && p <= w));
        let mut pool = AveragePooling2D::new((p, p)).strides((s, s)).padding(padding(same));
        let x = Tensor::new(&[n, h, w, c], values(n * h * w * c, seed)).unwrap();
        check_layer(&mut pool, &x, seed, Tolerance::default()).unwrap().assert_passed();
    }

    #[test]
    fn dense_gradients_match_finite_differences(n in 1usize..4, inputs in 1usize..6, units in 1usize..6, seed: u64) {
        let kernel = Tensor::new(&[inputs, units], values(inputs * units, seed)).unwrap();
        let mut dense = Dense::with_weights(kernel, values(units, seed + 1)).unwrap();
        let x = Tensor::new(&[n, inputs], values(n * inputs, seed + 2)).unwrap();
        check_layer(&mut dense, &x, seed, Tolerance::default()).unwrap().assert_passed();
    }
}

/// ReLU and softmax are not linear: `Tolerance::CURVED`, with seeds that keep every
/// pre-activation further than ε from ReLU's kink at 0.
const CURVED: Tolerance = Tolerance::CURVED;

#[test]
fn conv_relu_gradients_match_finite_differences() {
    let kernel = Tensor::new(&[3, 3, 2, 3], values(54, 11)).unwrap();
    let mut conv = Conv2D::with_weights(kernel, values(3, 12))
        .unwrap()
        .padding(Padding::Same)
        .strides((2, 1))
        .activation(Activation::Relu);
    let x = Tensor::new(&[2, 5, 4, 2], values(80, 13)).unwrap();
    check_layer(&mut conv, &x, 14, CURVED).unwrap().assert_passed();
}

#[test]
fn dense_softmax_and_relu_gradients_match_finite_differences() {
    for (activation, seed) in [(Activation::Softmax, 21), (Activation::Relu, 31)] {
        let mut dense =
            Dense::with_weights(Tensor::new(&[4, 5], values(20, seed)).unwrap(), values(5, seed + 1))
                .unwrap()
                .activation(activation);
        let x = Tensor::new(&[3, 4], values(12, seed + 2)).unwrap();
        check_layer(&mut dense, &x, seed, CURVED).unwrap().assert_passed();
    }
}

#[test]
fn flatten_gradient_is_the_reshaped_gradient() {
    let x = Tensor::new(&[2, 3, 2, 2], values(24, 41)).unwrap();
    check_layer(&mut Flatten::new(), &x, 42, Tolerance::default()).unwrap().assert_passed();
    let mut flatten = Flatten::new();
    flatten.forward(&x).unwrap();
    let dx = flatten.backward(&Tensor::arange(&[2, 12]).unwrap()).unwrap();
    assert_eq!(dx, &Tensor::arange(&[2, 3, 2, 2]).unwrap());
}

#[test]
fn a_whole_small_model_matches_finite_differences() {
    let mut model = common::model(&[7, 7, 2], 5)
        .conv(3, (3, 3))
        .max_pool(2)
        .add(Conv2D::new(4, (2, 2)).padding(Padding::Same).activation(Activation::Relu))
        .flatten()
        .dense(6)
        .softmax(3);
    let x = Tensor::new(&[4, 7, 7, 2], values(4 * 98, 51)).unwrap();
    let y = to_categorical(&[0, 2, 1, 2], 3).unwrap();
    let check = check_model(&mut model, &x, &y, CURVED).unwrap();
    check.assert_passed();
    assert_eq!(check.checked, model.param_count());
}

#[test]
fn a_wrong_gradient_is_caught() {
    // The checker must be able to fail: a layer whose backward doubles the true gradient.
    struct Doubled(Dense, Tensor);
    impl Layer for Doubled {
        fn kind(&self) -> &'static str {
            "doubled"
        }
        fn class_name(&self) -> &'static str {
            "Doubled"
        }
        fn build(&mut self, s: &[usize], init: &mut Init) -> convnets::Result<Vec<usize>> {
            self.0.build(s, init)
        }
        fn param_count(&self) -> usize {
            self.0.param_count()
        }
        fn forward(&mut self, x: &Tensor) -> convnets::Result<&Tensor> {
            self.0.forward(x)
        }
        fn backward(&mut self, dy: &Tensor) -> convnets::Result<&Tensor> {
            let dx = self.0.backward(dy)?;
            self.1 = Tensor::new(dx.shape(), dx.data().iter().map(|v| v * 2.0).collect())?;
            Ok(&self.1)
        }
    }
    let dense = Dense::with_weights(Tensor::new(&[3, 2], values(6, 61)).unwrap(), vec![0.0; 2]).unwrap();
    let x = Tensor::new(&[2, 3], values(6, 62)).unwrap();
    let check = check_layer(&mut Doubled(dense, Tensor::default()), &x, 63, Tolerance::default()).unwrap();
    assert!(!check.passed());
    assert!(check.mismatches.iter().all(|m| m.what == "dx"));
}

#[test]
fn strided_conv_leaves_unvisited_rows_without_gradient() {
    // 6×6 input, 3×3 kernel, stride 2, valid: windows start at rows 0 and 2, so the last row
    // and column are never read and get no gradient, yet dx keeps the 6×6 shape.
    let mut conv = Conv2D::with_weights(Tensor::new(&[3, 3, 1, 1], vec![1.0; 9]).unwrap(), vec![0.0])
        .unwrap()
        .strides((2, 2));
    let x = Tensor::new(&[1, 6, 6, 1], values(36, 71)).unwrap();
    assert_eq!(conv.forward(&x).unwrap().shape(), &[1, 2, 2, 1]);
    let dx = conv.backward(&Tensor::new(&[1, 2, 2, 1], vec![1.0; 4]).unwrap()).unwrap();
    assert_eq!(dx.shape(), &[1, 6, 6, 1]);
    for i in 0..6 {
        assert_eq!(dx.get(&[0, 5, i, 0]), Some(0.0));
        assert_eq!(dx.get(&[0, i, 5, 0]), Some(0.0));
    }
    // Row 2 and column 2 are shared by two windows each.
    assert_eq!(dx.get(&[0, 2, 2, 0]), Some(4.0));
    assert_eq!(dx.get(&[0, 0, 0, 0]), Some(1.0));
    assert_eq!(conv.bias_grad(), &[4.0]);
}

#[test]
fn max_pool_tie_sends_the_gradient_to_the_first_maximum() {
    let x = Tensor::new(&[1, 2, 2, 1], vec![3.0, 3.0, 3.0, 1.0]).unwrap();
    let mut pool = MaxPooling2D::new((2, 2));
    pool.forward(&x).unwrap();
    let dx = pool.backward(&Tensor::new(&[1, 1, 1, 1], vec![5.0]).unwrap()).unwrap();
    assert_eq!(dx.data(), &[5.0, 0.0, 0.0, 0.0]);
}

#[test]
fn overlapping_max_windows_add_their_gradients() {
    // Pool 2, stride 1 over a 1×3 row [1, 9, 2]: 9 wins both windows.
    let x = Tensor::new(&[1, 1, 3, 1], vec![1.0, 9.0, 2.0]).unwrap();
    let mut pool = MaxPooling2D::new((1, 2)).strides((1, 1));
    pool.forward(&x).unwrap();
    let dx = pool.backward(&Tensor::new(&[1, 1, 2, 1], vec![1.0, 10.0]).unwrap()).unwrap();
    assert_eq!(dx.data(), &[0.0, 11.0, 0.0]);
}

#[test]
fn backward_needs_a_forward_and_a_gradient_of_the_right_shape() {
    let mut conv = Conv2D::with_weights(Tensor::zeros(&[3, 3, 1, 2]).unwrap(), vec![0.0; 2]).unwrap();
    assert!(conv.backward(&Tensor::zeros(&[1, 3, 3, 2]).unwrap()).is_err(), "no forward yet");
    conv.forward(&Tensor::zeros(&[1, 5, 5, 1]).unwrap()).unwrap();
    assert!(conv.backward(&Tensor::zeros(&[1, 3, 3, 1]).unwrap()).is_err(), "wrong gradient shape");
    let mut pool = MaxPooling2D::new((2, 2));
    assert!(pool.backward(&Tensor::zeros(&[1, 1, 1, 1]).unwrap()).is_err());
    let mut dense = Dense::new(3);
    assert!(dense.backward(&Tensor::zeros(&[1, 3]).unwrap()).is_err());
}
