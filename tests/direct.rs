//! The engine's direct convolution against the textbook's naive loops, over random geometries
//! with enough filters for whole and partial blocks of 64, 32 and 8 filters, within the
//! tolerance of `conv_case`: the forward pass, the kernel and bias gradients and the input
//! gradient (compiled for every instruction set the processor has), the kernel as the first
//! layer of a model (weight gradients only) and in the middle of one, and how
//! `ConvAlgorithm::Auto` chooses it.

mod common;
mod conv_case;

use common::{digit_batch, plan_gradients};
use conv_case::{
    ATOL, Case, EngineConv, RTOL, case, input, output_grad, run_engine, run_textbook, textbook_layer,
};
use convnets::conv::{ConvGeometry, naive};
use convnets::engine::im2col::{ForwardPass, Gradients, WeightGradients, Workspace};
use convnets::engine::{ConvAlgorithm, ConvKernel, Isa, direct};
use convnets::gradcheck::{Tolerance, check_layer};
use convnets::model::book_model;
use convnets::testing::{assert_close, first_mismatch};
use convnets::{Activation, Layer, Padding};
use proptest::prelude::*;

proptest! {
    #[test]
    fn direct_forward_equals_naive_on_every_instruction_set(c in case(1..80)) {
        // Every variant this processor can run: the portable blocks, AVX2's, AVX-512's.
        let len = c.dy.len();
        let mut slow = vec![0.0; len];
        naive::forward(&c.g, &c.x, &c.kernel, &c.bias, &mut slow);
        for isa in Isa::available() {
            let mut fast = vec![f32::NAN; len];
            direct::forward_on(isa, &c.g, &c.x, &c.kernel, &c.bias, Activation::Linear, &mut fast);
            prop_assert!(first_mismatch(&fast, &slow, ATOL, RTOL).is_none(), "{isa:?}");
        }
    }

    #[test]
    fn direct_kernel_gradient_equals_naive_on_every_instruction_set(c in case(1..80)) {
        // Windows of 1-4 × 1-4 × 1-4 values: blocks of three taps, one or two left over, and
        // windows over the padding.
        let mut dx = vec![0.0; c.x.len()];
        let (mut naive_dk, mut naive_db) = (vec![0.0; c.kernel.len()], vec![0.0; c.g.out_c]);
        naive::backward(&c.g, &c.x, &c.kernel, &c.dy, &mut dx, &mut naive_dk, &mut naive_db);
        for isa in Isa::available() {
            let (mut dk, mut db) = (vec![0.0; c.kernel.len()], vec![0.0; c.g.out_c]);
            direct::kernel_gradient_on(isa, &c.g, &c.x, &c.dy, &mut dk, &mut db);
            prop_assert!(first_mismatch(&dk, &naive_dk, ATOL, RTOL).is_none(), "{isa:?} dkernel");
            prop_assert!(first_mismatch(&db, &naive_db, ATOL, RTOL).is_none(), "{isa:?} dbias");
        }
    }

    #[test]
    fn direct_input_gradient_equals_naive_on_every_instruction_set(c in case(1..80)) {
        // Whole blocks of 16 input channels and 8, the few left over, and windows over the
        // padding; `dx` is overwritten, so it starts as garbage.
        let mut naive_dx = vec![0.0; c.x.len()];
        let (mut dk, mut db) = (vec![0.0; c.kernel.len()], vec![0.0; c.g.out_c]);
        naive::backward(&c.g, &c.x, &c.kernel, &c.dy, &mut naive_dx, &mut dk, &mut db);
        for isa in Isa::available() {
            let mut dx = vec![f32::NAN; c.x.len()];
            direct::input_gradient_on(isa, &c.g, &c.kernel, &c.dy, &mut dx);
            prop_assert!(first_mismatch(&dx, &naive_dx, ATOL, RTOL).is_none(), "{isa:?}");
        }
    }

    #[test]
    fn a_direct_first_layer_gets_the_textbook_weight_gradients(c in case(1..40)) {
        // As the first layer of a model, the kernel is asked for its weight gradients only,
        // from the gradient after its ReLU or (when a max pooling folded the ReLU in) before.
        let (x, dy) = (input(&c), output_grad(&c));
        for before_relu in [false, true] {
            let mut fast = EngineConv::new(&c, Activation::Relu, ConvKernel::Direct);
            fast.forward(&x).unwrap();
            let (dk, db) = fast.weight_gradients(&c.dy, before_relu);
            let mut slow = textbook_layer(&c, Activation::Relu);
            slow.forward(&x).unwrap();
            if before_relu {
                slow.backward_pre_activation(&dy).unwrap();
            } else {
                slow.backward(&dy).unwrap();
            }
            assert_close(&dk, slow.kernel_grad(), ATOL, RTOL);
            assert_close(&db, slow.bias_grad(), ATOL, RTOL);
        }
    }

    #[test]
    fn the_direct_kernel_passes_the_gradient_check(c in case(1..40)) {
        let mut conv = EngineConv::new(&c, Activation::Linear, ConvKernel::Direct);
        check_layer(&mut conv, &input(&c), 1, Tolerance::default()).unwrap().assert_passed();
    }

    #[test]
    fn the_direct_kernel_with_relu_equals_the_textbook_layer(c in case(1..80)) {
        // ReLU's kink breaks finite differences, so the ReLU path is checked against the
        // textbook's layer instead: the output and all three gradients. Where a sum before
        // the ReLU is within rounding of 0, the two sides, adding in other orders, may round
        // it to opposite signs, and only one lets that output's gradient through: such a
        // case has no single right answer, and is left out.
        let mut z = vec![0.0; c.dy.len()];
        naive::forward(&c.g, &c.x, &c.kernel, &c.bias, &mut z);
        prop_assume!(z.iter().all(|v| v.abs() > 1e-5));
        run_engine(&c, Activation::Relu, ConvKernel::Direct).assert_close_to(&run_textbook(&c, Activation::Relu), ATOL, RTOL);
    }
}

/// The forward pass over as many pixels as its blocks take at once and more: fewer than one
/// block (1 and 5 pixels), exact blocks, and runs over several chunks of AVX2's 120 pixels
/// with a few left over (242 and 245), for blocks of 64, 32, 16 and 8 filters and the
/// filters past them. One thread, so that one run takes every pixel.
#[test]
fn direct_forward_equals_naive_for_any_count_of_pixels() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    for (batch, h, w) in [(1, 3, 3), (1, 3, 7), (1, 8, 3), (2, 5, 5), (1, 24, 12), (2, 13, 13), (5, 9, 9)] {
        for filters in [8, 40, 64, 75] {
            let g =
                ConvGeometry::new(&[batch, h, w, 3], &[3, 3, 3, filters], (1, 1), Padding::Valid).unwrap();
            let x = common::values(batch * g.sample_input_len(), 1);
            let kernel = common::values(g.patch_len() * filters, 2);
            let bias = common::values(filters, 3);
            let mut slow = vec![0.0; batch * g.sample_output_len()];
            naive::forward(&g, &x, &kernel, &bias, &mut slow);
            for isa in Isa::available() {
                let mut fast = vec![f32::NAN; slow.len()];
                pool.install(|| {
                    direct::forward_on(isa, &g, &x, &kernel, &bias, Activation::Linear, &mut fast)
                });
                let pixels = batch * g.sample_rows();
                let what = format!("{isa:?}, {pixels} pixels × {filters} filters");
                assert!(first_mismatch(&fast, &slow, ATOL, RTOL).is_none(), "{what}");
            }
        }
    }
}

/// What `Auto` picks for a long window and `filters` filters: the direct loops where the
/// processor's blocks of filters fill up (AVX2's 16, AVX-512's 32 and 64), im2col otherwise.
fn for_long_windows(filters: usize) -> ConvKernel {
    match Isa::current() {
        Isa::Avx512 if filters >= 32 => ConvKernel::Direct,
        Isa::Avx2 if filters >= 16 => ConvKernel::Direct,
        _ => ConvKernel::Im2col,
    }
}

#[test]
fn auto_picks_direct_for_blocks_of_filters_or_short_windows() {
    let geometry = |in_c, filters| {
        ConvGeometry::new(&[1, 28, 28, in_c], &[3, 3, in_c, filters], (1, 1), Padding::Valid).unwrap()
    };
    // The book's first layer: a window of 9 values against 32 filters, on any processor.
    assert_eq!(ConvAlgorithm::Auto.resolve(&geometry(1, 32)), ConvKernel::Direct);
    assert_eq!(ConvAlgorithm::Auto.resolve(&geometry(1, 16)), ConvKernel::Direct);
    // Its other layers: windows of 288 and 576 values against 64 filters.
    assert_eq!(ConvAlgorithm::Auto.resolve(&geometry(32, 64)), for_long_windows(64));
    assert_eq!(ConvAlgorithm::Auto.resolve(&geometry(64, 64)), for_long_windows(64));
    assert_eq!(ConvAlgorithm::Auto.resolve(&geometry(64, 16)), for_long_windows(16));
    // Long windows and few filters: im2col on any processor.
    assert_eq!(ConvAlgorithm::Auto.resolve(&geometry(64, 8)), ConvKernel::Im2col);
    // The batch size does not matter.
    assert_eq!(ConvAlgorithm::Auto.resolve(&geometry(1, 32).with_batch(64)), ConvKernel::Direct);
    assert_eq!(ConvAlgorithm::Auto.resolve(&geometry(64, 8).with_batch(64)), ConvKernel::Im2col);
    // A choice made by hand is kept.
    assert_eq!(ConvAlgorithm::Naive.resolve(&geometry(1, 32)), ConvKernel::Naive);
    assert_eq!(ConvAlgorithm::Im2col.resolve(&geometry(1, 32)), ConvKernel::Im2col);
    assert_eq!(ConvAlgorithm::Direct.resolve(&geometry(64, 8)), ConvKernel::Direct);
}

#[test]
fn the_plan_uses_the_kernels_its_algorithm_resolves_to() {
    let model = book_model(0).unwrap();
    let kernels = |algorithm| convnets::Plan::new(&model, algorithm, 1).unwrap().conv_kernels();
    assert_eq!(
        kernels(ConvAlgorithm::Auto),
        [ConvKernel::Direct, for_long_windows(64), for_long_windows(64)]
    );
    assert_eq!(kernels(ConvAlgorithm::Naive), [ConvKernel::Naive; 3]);
    assert_eq!(kernels(ConvAlgorithm::Im2col), [ConvKernel::Im2col; 3]);
    assert_eq!(kernels(ConvAlgorithm::Direct), [ConvKernel::Direct; 3]);
}

#[test]
fn a_workspace_used_by_im2col_does_not_leak_old_patches_into_the_direct_loops() {
    // A grey first layer under im2col keeps its patch matrix in the workspace for the backward
    // pass. The direct loops, handed the same workspace for the next batch, build none, and
    // their kernel gradient must come from the new input, not from the old patches.
    let values =
        |len: usize, m: usize| (0..len).map(|i| ((i * m) % 101) as f32 / 50.0 - 1.0).collect::<Vec<_>>();
    let g = ConvGeometry::new(&[2, 8, 8, 1], &[3, 3, 1, 32], (1, 1), Padding::Valid).unwrap();
    let (kernel, bias) = (values(288, 53), vec![0.1; 32]);
    let (x1, x2, dy) = (values(128, 37), values(128, 41), values(2304, 11));
    let mut ws = Workspace::default();
    let (mut dz, mut y) = (Vec::new(), vec![0.0; dy.len()]);
    let mut step = |loops: ConvKernel, x: &[f32]| {
        loops.forward(&mut ws, &g, x, &kernel, &bias, Activation::Linear, &mut y);
        let seen = ForwardPass { input: x, output: &y, activation: Activation::Linear };
        let (mut dk, mut db, mut dx) = (vec![0.0; kernel.len()], vec![0.0; 32], vec![0.0; x.len()]);
        let weights = Some(WeightGradients { dkernel: &mut dk, dbias: &mut db });
        loops.backward(&mut ws, &g, &kernel, seen, &dy, &mut dz, Gradients { dx: Some(&mut dx), weights });
        dk
    };
    step(ConvKernel::Im2col, &x1);
    let switched = step(ConvKernel::Direct, &x2);
    let c = Case { g, x: x2, kernel: kernel.clone(), bias, dy: dy.clone() };
    assert_close(&switched, &run_textbook(&c, Activation::Linear).dkernel, ATOL, RTOL);
}

#[test]
fn the_book_model_trains_the_same_with_auto_as_with_im2col() {
    // Auto changes only how the convolutions' outputs and weight gradients are summed (and
    // fuses the first two layers): the plans' gradients of a whole training step agree to
    // rounding.
    let (x, y) = digit_batch(8);
    let mut model = book_model(3).unwrap();
    let (auto_stats, auto) = plan_gradients(&mut model, &x, &y, ConvAlgorithm::Auto, 1);
    let (im2col_stats, im2col) = plan_gradients(&mut model, &x, &y, ConvAlgorithm::Im2col, 1);
    assert_close(&auto.concat(), &im2col.concat(), 1e-6, 1e-3);
    assert!((auto_stats.loss - im2col_stats.loss).abs() < 1e-6);
    assert_eq!(auto_stats.correct, im2col_stats.correct);
}
