//! The direct convolution against the naive reference loops, over random geometries with
//! enough filters for whole and partial blocks of 64, 32 and 8 filters, within the
//! tolerance of `conv_case`: the forward pass, the kernel and bias gradients, and a `Direct`
//! layer as the first layer of a model (no input gradient) and in the middle of one (its
//! input gradient from im2col).

mod conv_case;

use conv_case::{ATOL, RTOL, case, input, layer};
use convnets::conv::{ConvGeometry, direct, naive};
use convnets::gradcheck::{Tolerance, check_layer};
use convnets::metrics::to_categorical;
use convnets::testing::assert_close;
use convnets::{Activation, Conv2D, ConvAlgorithm, Layer, Padding, Tensor};
use proptest::prelude::*;

proptest! {
    #[test]
    fn direct_forward_equals_naive(c in case(1..80)) {
        let len = c.dy.len();
        let (mut fast, mut slow) = (vec![0.0; len], vec![0.0; len]);
        direct::forward(&c.g, &c.x, &c.kernel, &c.bias, Activation::Linear, &mut fast);
        naive::forward(&c.g, &c.x, &c.kernel, &c.bias, &mut slow);
        assert_close(&fast, &slow, ATOL, RTOL);
    }

    #[test]
    fn direct_kernel_gradient_equals_naive(c in case(1..80)) {
        // Windows of 1-4 × 1-4 × 1-4 values: blocks of three taps, one or two left over, and
        // windows over the padding.
        let (mut dk, mut db) = (vec![0.0; c.kernel.len()], vec![0.0; c.g.out_c]);
        direct::kernel_gradient(&c.g, &c.x, &c.dy, &mut dk, &mut db);
        let mut dx = vec![0.0; c.x.len()];
        let (mut naive_dk, mut naive_db) = (vec![0.0; c.kernel.len()], vec![0.0; c.g.out_c]);
        naive::backward(&c.g, &c.x, &c.kernel, &c.dy, &mut dx, &mut naive_dk, &mut naive_db);
        assert_close(&dk, &naive_dk, ATOL, RTOL);
        assert_close(&db, &naive_db, ATOL, RTOL);
    }

    #[test]
    fn a_direct_first_layer_gets_the_naive_weight_gradients(c in case(1..40)) {
        // As the first layer of a model, the layer is asked for its weight gradients only,
        // from the gradient after its ReLU or (when a max pooling folded the ReLU in) before.
        let x = input(&c);
        let dy = Tensor::new(&c.g.output_shape(), c.dy.clone()).unwrap();
        for before_relu in [false, true] {
            let run = |algorithm| {
                let mut conv = layer(&c, Activation::Relu, algorithm);
                conv.forward(&x).unwrap();
                if before_relu {
                    conv.backward_params_pre_activation(&dy).unwrap();
                } else {
                    conv.backward_params(&dy).unwrap();
                }
                (conv.kernel_grad().to_vec(), conv.bias_grad().to_vec())
            };
            let (fast, slow) = (run(ConvAlgorithm::Direct), run(ConvAlgorithm::Naive));
            assert_close(&fast.0, &slow.0, ATOL, RTOL);
            assert_close(&fast.1, &slow.1, ATOL, RTOL);
        }
    }

    #[test]
    fn direct_layer_passes_the_gradient_check(c in case(1..40)) {
        let x = input(&c);
        check_layer(&mut layer(&c, Activation::Linear, ConvAlgorithm::Direct), &x, 1, Tolerance::default())
            .unwrap()
            .assert_passed();
    }

    #[test]
    fn direct_layer_with_relu_equals_the_naive_layer(c in case(1..80)) {
        // ReLU's kink breaks finite differences, so the ReLU path is checked against the
        // reference layer instead: the output and all three gradients.
        let x = input(&c);
        let dy = Tensor::new(&c.g.output_shape(), c.dy.clone()).unwrap();
        let run = |algorithm| {
            let mut conv = layer(&c, Activation::Relu, algorithm);
            let y = conv.forward(&x).unwrap().clone();
            let dx = conv.backward(&dy).unwrap().clone();
            (y.into_data(), dx.into_data(), conv.kernel_grad().to_vec(), conv.bias_grad().to_vec())
        };
        let (fast, slow) = (run(ConvAlgorithm::Direct), run(ConvAlgorithm::Naive));
        assert_close(&fast.0, &slow.0, ATOL, RTOL);
        assert_close(&fast.1, &slow.1, ATOL, RTOL);
        assert_close(&fast.2, &slow.2, ATOL, RTOL);
        assert_close(&fast.3, &slow.3, ATOL, RTOL);
    }
}

#[test]
fn auto_picks_direct_for_blocks_of_filters_or_short_windows() {
    let geometry = |in_c, filters| {
        ConvGeometry::new(&[1, 28, 28, in_c], &[3, 3, in_c, filters], (1, 1), Padding::Valid).unwrap()
    };
    // The book's first layer: a window of 9 values against 32 filters.
    assert_eq!(ConvAlgorithm::Auto.for_geometry(&geometry(1, 32)), ConvAlgorithm::Direct);
    // Its other layers: 64 filters, whole blocks of the direct loops' sums where AVX-512's
    // registers hold them.
    let wide = if direct::WIDE_REGISTERS { ConvAlgorithm::Direct } else { ConvAlgorithm::Im2col };
    assert_eq!(ConvAlgorithm::Auto.for_geometry(&geometry(32, 64)), wide);
    assert_eq!(ConvAlgorithm::Auto.for_geometry(&geometry(64, 64)), wide);
    // Few filters: direct only if the window is no longer (9 values against 16 filters).
    assert_eq!(ConvAlgorithm::Auto.for_geometry(&geometry(1, 16)), ConvAlgorithm::Direct);
    assert_eq!(ConvAlgorithm::Auto.for_geometry(&geometry(64, 16)), ConvAlgorithm::Im2col);
    // A choice made by hand is kept.
    assert_eq!(ConvAlgorithm::Im2col.for_geometry(&geometry(1, 32)), ConvAlgorithm::Im2col);
    assert_eq!(ConvAlgorithm::Direct.for_geometry(&geometry(64, 8)), ConvAlgorithm::Direct);
}

#[test]
fn a_layer_switched_to_direct_does_not_reuse_old_patches() {
    // A grey first layer under im2col keeps its patch matrix for the backward pass. Switched
    // to the direct algorithm, its next forward pass builds none, and its kernel gradient
    // must come from the new input, not from the old patches.
    let values = |len: usize, m: usize| (0..len).map(|i| ((i * m) % 101) as f32 / 50.0 - 1.0).collect();
    let kernel = Tensor::new(&[3, 3, 1, 32], values(288, 53)).unwrap();
    let (x1, x2) = (
        Tensor::new(&[2, 8, 8, 1], values(128, 37)).unwrap(),
        Tensor::new(&[2, 8, 8, 1], values(128, 41)).unwrap(),
    );
    let dy = Tensor::new(&[2, 6, 6, 32], values(2304, 11)).unwrap();
    let conv = |algorithm| Conv2D::with_weights(kernel.clone(), vec![0.1; 32]).unwrap().algorithm(algorithm);
    let mut switched = conv(ConvAlgorithm::Im2col);
    switched.forward(&x1).unwrap();
    switched.backward(&dy).unwrap();
    let mut switched = switched.algorithm(ConvAlgorithm::Direct);
    switched.forward(&x2).unwrap();
    switched.backward(&dy).unwrap();
    let mut reference = conv(ConvAlgorithm::Naive);
    reference.forward(&x2).unwrap();
    reference.backward(&dy).unwrap();
    assert_close(switched.kernel_grad(), reference.kernel_grad(), ATOL, RTOL);
}

#[test]
fn the_book_model_trains_the_same_with_auto_as_with_im2col() {
    // Auto changes only how the first layer's output and weight gradients are summed: the
    // gradients of a whole training step agree with im2col's to rounding.
    let x =
        Tensor::new(&[8, 28, 28, 1], (0..6272).map(|i| ((i * 31) % 256) as f32 / 255.0).collect()).unwrap();
    let y = to_categorical(&[0, 1, 2, 3, 4, 5, 6, 7], 10).unwrap();
    let grads = |algorithm| {
        let mut model = convnets::model::book_model_using(3, algorithm).unwrap();
        model.compute_gradients(&x, &y).unwrap();
        model.params().iter().flat_map(|p| p.grad.to_vec()).collect::<Vec<f32>>()
    };
    assert_close(&grads(ConvAlgorithm::Auto), &grads(ConvAlgorithm::Im2col), 1e-6, 1e-3);
}
