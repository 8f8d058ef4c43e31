//! The engine's im2col + GEMM against the textbook's naive loops, over random geometries,
//! within the tolerance of `conv_case` (the GEMM sums the same products in another order).

mod common;
mod conv_case;

use common::in_pool;
use conv_case::{ATOL, Case, EngineConv, RTOL, case, input, run_engine, run_textbook};
use convnets::conv::{ConvGeometry, naive};
use convnets::engine::{ConvKernel, im2col};
use convnets::gradcheck::{Tolerance, check_layer};
use convnets::testing::assert_close;
use convnets::{Activation, Padding};
use proptest::prelude::*;

proptest! {
    #[test]
    fn im2col_forward_equals_naive(c in case(1..5)) {
        let len = c.dy.len();
        let (mut fast, mut slow) = (vec![0.0; len], vec![0.0; len]);
        im2col::forward(&c.g, &c.x, &c.kernel, &c.bias, &mut fast);
        naive::forward(&c.g, &c.x, &c.kernel, &c.bias, &mut slow);
        assert_close(&fast, &slow, ATOL, RTOL);
    }

    #[test]
    fn im2col_gradients_equal_naive(c in case(1..5)) {
        let zeros = |len| vec![0.0f32; len];
        let (mut dx1, mut dk1, mut db1) = (zeros(c.x.len()), zeros(c.kernel.len()), zeros(c.bias.len()));
        let (mut dx2, mut dk2, mut db2) = (zeros(c.x.len()), zeros(c.kernel.len()), zeros(c.bias.len()));
        im2col::backward(&c.g, &c.x, &c.kernel, &c.dy, &mut dx1, &mut dk1, &mut db1);
        naive::backward(&c.g, &c.x, &c.kernel, &c.dy, &mut dx2, &mut dk2, &mut db2);
        assert_close(&dx1, &dx2, ATOL, RTOL);
        assert_close(&dk1, &dk2, ATOL, RTOL);
        assert_close(&db1, &db2, ATOL, RTOL);
    }

    #[test]
    fn tiles_of_any_size_give_the_same_results(c in case(1..5), tile in 1usize..4) {
        // The whole batch in one tile (the default for these small shapes) against tiles
        // of `tile` samples: the same forward pass and gradients.
        let (g, len) = (c.g, c.dy.len());
        let run = |mut ws: im2col::Workspace| {
            let mut y = vec![0.0; len];
            im2col::forward_with(&mut ws, &g, &c.x, &c.kernel, &c.bias, Activation::Relu, &mut y);
            let (mut dx, mut dk, mut db) = (vec![0.0; c.x.len()], vec![0.0; c.kernel.len()], vec![0.0; g.out_c]);
            let seen = im2col::ForwardPass { input: &c.x, output: &y, activation: Activation::Relu };
            let weights = Some(im2col::WeightGradients { dkernel: &mut dk, dbias: &mut db });
            let grads = im2col::Gradients { dx: Some(&mut dx), weights };
            im2col::backward_with(&mut ws, &g, &c.kernel, seen, &c.dy, grads);
            (y, dx, dk, db)
        };
        let (whole, tiled) = (run(im2col::Workspace::default()), run(im2col::Workspace::with_tile_samples(tile)));
        assert_close(&tiled.0, &whole.0, ATOL, RTOL);
        assert_close(&tiled.1, &whole.1, ATOL, RTOL);
        assert_close(&tiled.2, &whole.2, ATOL, RTOL);
        assert_close(&tiled.3, &whole.3, ATOL, RTOL);
    }

    #[test]
    fn the_im2col_kernel_passes_the_gradient_check(c in case(1..5)) {
        let mut conv = EngineConv::new(&c, Activation::Linear, ConvKernel::Im2col);
        check_layer(&mut conv, &input(&c), 1, Tolerance::default()).unwrap().assert_passed();
    }

    #[test]
    fn the_im2col_kernel_with_relu_equals_the_textbook_layer(c in case(1..5)) {
        // ReLU's kink breaks finite differences, so the ReLU path (the activation's gradient
        // taken tile by tile) is checked against the textbook's layer instead.
        run_engine(&c, Activation::Relu, ConvKernel::Im2col).assert_close_to(&run_textbook(&c, Activation::Relu), ATOL, RTOL);
    }
}

#[test]
fn the_patch_matrix_of_a_3x3_image() {
    // x = 0..9 as a 3×3 image, 2×2 kernel, valid: 4 windows, each a row of 4 values.
    let g = ConvGeometry::new(&[1, 3, 3, 1], &[2, 2, 1, 1], (1, 1), Padding::Valid).unwrap();
    let x: Vec<f32> = (0..9).map(|v| v as f32).collect();
    let mut cols = vec![0.0; g.patch_rows() * g.patch_len()];
    im2col::im2col(&g, &x, &mut cols);
    assert_eq!((g.patch_rows(), g.patch_len()), (4, 4));
    assert_eq!(cols, [0., 1., 3., 4., 1., 2., 4., 5., 3., 4., 6., 7., 4., 5., 7., 8.]);
    // col2im of all-ones rows counts how many windows cover each pixel.
    let mut counts = vec![0.0; 9];
    im2col::col2im(&g, &[1.0; 16], &mut counts);
    assert_eq!(counts, [1., 2., 1., 2., 4., 2., 1., 2., 1.]);
}

#[test]
fn im2col_gradients_are_deterministic_for_a_thread_count() {
    // The book's second convolution on 10 images: the batch is cut into one run per thread,
    // and the runs' kernel gradients are added in run order, so a thread count always gives
    // the same bits; across thread counts only the order of additions differs.
    let g = ConvGeometry::new(&[10, 13, 13, 32], &[3, 3, 32, 64], (1, 1), Padding::Valid).unwrap();
    let x = common::values(g.batch * g.sample_input_len(), 1);
    let kernel = common::values(g.patch_len() * g.out_c, 2);
    let dy = common::values(g.batch * g.sample_output_len(), 3);
    let grads = |threads| {
        in_pool(threads, || {
            let (mut dx, mut dk, mut db) = (vec![0.0; x.len()], vec![0.0; kernel.len()], vec![0.0; g.out_c]);
            im2col::backward(&g, &x, &kernel, &dy, &mut dx, &mut dk, &mut db);
            [dx, dk, db].concat()
        })
    };
    let (one, two) = (grads(1), grads(2));
    assert_eq!(one, grads(1), "one thread, twice: the same bits");
    assert_eq!(two, grads(2), "two threads, twice: the same bits");
    assert_close(&one, &two, 1e-5, 1e-4);
}

#[test]
fn a_first_layer_keeps_its_patch_matrix_and_still_matches_the_textbook() {
    // One input channel and 32 filters: a patch row (9 values) is shorter than an output
    // row (32), so the forward pass keeps the patch matrix for the backward pass.
    let g = ConvGeometry::new(&[5, 9, 9, 1], &[3, 3, 1, 32], (1, 1), Padding::Valid).unwrap();
    let c = Case {
        g,
        x: (0..405).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect(),
        kernel: (0..288).map(|i| ((i * 53) % 97) as f32 / 97.0 - 0.5).collect(),
        bias: vec![0.1; 32],
        dy: (0..7840).map(|i| ((i * 11) % 13) as f32 / 13.0 - 0.4).collect(),
    };
    run_engine(&c, Activation::Relu, ConvKernel::Im2col).assert_close_to(
        &run_textbook(&c, Activation::Relu),
        ATOL,
        RTOL,
    );
}
