//! Each layer on tiny inputs a reader can check by hand, plus properties over random ones.

use convnets::activation::softmax;
use convnets::engine::gemm::{Mat, gemm};
use convnets::engine::isa::Isa;
use convnets::engine::pool as engine_pool;
use convnets::padding::zero_pad;
use convnets::pool::{
    max_pool_backward as textbook_max_pool_backward, max_pool_forward as textbook_max_pool_forward,
};
use convnets::testing::assert_close;
use convnets::{
    Activation, AveragePooling2D, Conv2D, Dense, Flatten, Layer, MaxPooling2D, Padding, Tensor, Window2D,
};
use proptest::prelude::*;

/// A single-channel image or kernel from rows of numbers.
fn image(rows: &[&[f32]]) -> Tensor {
    let data: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::new(&[1, rows.len(), rows[0].len(), 1], data).unwrap()
}

fn ones_kernel(k: usize) -> Tensor {
    Tensor::new(&[k, k, 1, 1], vec![1.0; k * k]).unwrap()
}

#[test]
fn conv_5x5_input_3x3_kernel_has_9_windows() {
    // x = 0..25 as a 5×5 image; a kernel of ones sums each 3×3 window.
    // Window (0,0) holds 0+1+2+5+6+7+10+11+12 = 54; one step right adds 9 (one per value),
    // one step down adds 45.
    let x = Tensor::arange(&[1, 5, 5, 1]).unwrap();
    let mut conv = Conv2D::with_weights(ones_kernel(3), vec![0.0]).unwrap();
    let y = conv.forward(&x).unwrap();
    assert_eq!(y.shape(), &[1, 3, 3, 1]);
    assert_eq!(y.data(), &[54., 63., 72., 99., 108., 117., 144., 153., 162.]);
}

#[test]
fn conv_with_a_centred_one_crops_the_input() {
    let mut kernel = Tensor::zeros(&[3, 3, 1, 1]).unwrap();
    kernel.data_mut()[4] = 1.0;
    let x = Tensor::arange(&[1, 5, 5, 1]).unwrap();
    let y = Conv2D::with_weights(kernel, vec![0.0]).unwrap().forward(&x).unwrap().clone();
    assert_eq!(y.data(), &[6., 7., 8., 11., 12., 13., 16., 17., 18.]);
}

#[test]
fn conv_same_padding_sums_fewer_values_at_the_border() {
    // 3×3 ones on a 3×3 image of ones, `same`: corners see 4 values, edges 6, the centre 9.
    let x = image(&[&[1., 1., 1.], &[1., 1., 1.], &[1., 1., 1.]]);
    let mut conv = Conv2D::with_weights(ones_kernel(3), vec![0.0]).unwrap().padding(Padding::Same);
    let y = conv.forward(&x).unwrap();
    assert_eq!(y.data(), &[4., 6., 4., 6., 9., 6., 4., 6., 4.]);
}

#[test]
fn conv_stride_2_skips_every_other_window() {
    let x = Tensor::arange(&[1, 5, 5, 1]).unwrap();
    let y =
        Conv2D::with_weights(ones_kernel(3), vec![0.0]).unwrap().strides((2, 2)).forward(&x).unwrap().clone();
    assert_eq!(y.shape(), &[1, 2, 2, 1]);
    assert_eq!(y.data(), &[54., 72., 144., 162.]);
}

#[test]
fn conv_adds_bias_per_filter_then_relu() {
    // Two filters over one channel: the first copies the pixel, the second negates it.
    let kernel = Tensor::new(&[1, 1, 1, 2], vec![1.0, -1.0]).unwrap();
    let x = image(&[&[1., 2.], &[3., 4.]]);
    let mut linear = Conv2D::with_weights(kernel.clone(), vec![0.5, 2.5]).unwrap();
    assert_eq!(linear.forward(&x).unwrap().data(), &[1.5, 1.5, 2.5, 0.5, 3.5, -0.5, 4.5, -1.5]);
    let mut relu = Conv2D::with_weights(kernel, vec![0.5, 2.5]).unwrap().activation(Activation::Relu);
    assert_eq!(relu.forward(&x).unwrap().data(), &[1.5, 1.5, 2.5, 0.5, 3.5, 0.0, 4.5, 0.0]);
}

#[test]
fn conv_sums_over_input_channels() {
    // A 1×1 kernel over 3 channels is a weighted sum of the channels at each pixel.
    let kernel = Tensor::new(&[1, 1, 3, 1], vec![1.0, 10.0, 100.0]).unwrap();
    let x = Tensor::new(&[1, 1, 2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
    let y = Conv2D::with_weights(kernel, vec![0.0]).unwrap().forward(&x).unwrap().clone();
    assert_eq!(y.data(), &[321., 654.]);
}

#[test]
fn conv_rejects_inputs_that_do_not_fit() {
    let mut conv = Conv2D::with_weights(Tensor::zeros(&[3, 3, 2, 4]).unwrap(), vec![0.0; 4]).unwrap();
    let wrong_channels = Tensor::zeros(&[1, 5, 5, 3]).unwrap();
    assert!(conv.forward(&wrong_channels).unwrap_err().to_string().contains("input channels"));
    assert!(conv.forward(&Tensor::zeros(&[5, 5, 2]).unwrap()).is_err(), "missing batch axis");
    assert!(conv.forward(&Tensor::zeros(&[1, 2, 2, 2]).unwrap()).is_err(), "kernel larger than input");
    assert!(Conv2D::with_weights(Tensor::zeros(&[3, 3, 2, 4]).unwrap(), vec![0.0; 3]).is_err());
    assert!(Conv2D::with_weights(Tensor::zeros(&[3, 3, 4]).unwrap(), vec![0.0; 4]).is_err());
    assert!(Conv2D::new(4, (3, 3)).forward(&wrong_channels).is_err(), "no weights yet");
}

#[test]
fn max_pool_2x2_of_a_known_4x4() {
    let x = image(&[&[1., 3., 2., 4.], &[5., 0., 8., 1.], &[2., 2., 9., 7.], &[6., 1., 3., 3.]]);
    let mut pool = MaxPooling2D::new((2, 2));
    let y = pool.forward(&x).unwrap();
    assert_eq!(y.shape(), &[1, 2, 2, 1]);
    assert_eq!(y.data(), &[5., 8., 6., 9.]);
    assert_eq!(pool.argmax(), &[4, 6, 12, 10]);
}

#[test]
fn max_pool_ties_go_to_the_first_maximum() {
    let x = image(&[&[0., 7., 7., 2.], &[7., 7., 7., 7.]]);
    let mut pool = MaxPooling2D::new((2, 2));
    assert_eq!(pool.forward(&x).unwrap().data(), &[7., 7.]);
    assert_eq!(pool.argmax(), &[1, 2], "the first 7 in row-major order wins each window");
}

#[test]
fn max_pool_valid_drops_the_odd_last_row() {
    let x = Tensor::arange(&[1, 5, 5, 1]).unwrap();
    let y = MaxPooling2D::new((2, 2)).forward(&x).unwrap().clone();
    assert_eq!(y.data(), &[6., 8., 16., 18.]);
}

#[test]
fn max_pool_same_ignores_the_padding() {
    // All values negative: if padded zeros took part they would win the border windows.
    let x = image(&[&[-1., -2., -3.], &[-4., -5., -6.], &[-7., -8., -9.]]);
    let y = MaxPooling2D::new((2, 2)).padding(Padding::Same).forward(&x).unwrap().clone();
    assert_eq!(y.data(), &[-1., -3., -7., -9.]);
}

#[test]
fn average_pool_2x2_and_same_counts_only_real_values() {
    let x = image(&[&[1., 3., 2., 4.], &[5., 0., 8., 1.], &[2., 2., 9., 7.], &[6., 1., 3., 3.]]);
    let y = AveragePooling2D::new((2, 2)).forward(&x).unwrap().clone();
    assert_eq!(y.data(), &[2.25, 3.75, 2.75, 5.5]);
    let x = image(&[&[1., 2., 3.], &[4., 5., 6.], &[7., 8., 9.]]);
    let y = AveragePooling2D::new((2, 2)).padding(Padding::Same).forward(&x).unwrap().clone();
    assert_eq!(y.data(), &[3., 4.5, 7.5, 9.]);
}

#[test]
fn pooling_works_per_channel() {
    // Two channels interleaved (NHWC): channel 0 counts up, channel 1 down.
    let x = Tensor::new(&[1, 2, 2, 2], vec![0., 9., 1., 8., 2., 7., 3., 6.]).unwrap();
    assert_eq!(MaxPooling2D::new((2, 2)).forward(&x).unwrap().data(), &[3., 9.]);
    assert_eq!(AveragePooling2D::new((2, 2)).forward(&x).unwrap().data(), &[1.5, 7.5]);
}

#[test]
fn dense_by_hand() {
    let kernel = Tensor::new(&[2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
    let mut dense = Dense::with_weights(kernel, vec![0.5, 0.0, -1.0]).unwrap();
    let x = Tensor::new(&[2, 2], vec![1., 2., -1., 0.]).unwrap();
    let y = dense.forward(&x).unwrap();
    assert_eq!(y.shape(), &[2, 3]);
    assert_eq!(y.data(), &[9.5, 12., 14., -0.5, -2., -4.]);
    assert!(dense.forward(&Tensor::zeros(&[2, 3]).unwrap()).is_err(), "3 features for a 2-input kernel");
    assert!(dense.forward(&Tensor::zeros(&[2, 1, 2]).unwrap()).is_err(), "not flat");
}

#[test]
fn flatten_keeps_nhwc_order() {
    let x = Tensor::arange(&[2, 2, 3, 2]).unwrap();
    let y = Flatten::new().forward(&x).unwrap().clone();
    assert_eq!(y.shape(), &[2, 12]);
    assert_eq!(y.data(), x.data());
}

#[test]
fn softmax_is_stable_and_sums_to_one() {
    let mut row = [1000.0f32, 1001.0, 1002.0];
    softmax(&mut row);
    let mut small = [0.0f32, 1.0, 2.0];
    softmax(&mut small);
    let e = [1.0f32, 1f32.exp(), 2f32.exp()];
    let sum: f32 = e.iter().sum();
    assert_close(&small, &[e[0] / sum, e[1] / sum, e[2] / sum], 1e-7, 1e-6);
    assert_close(&row, &small, 1e-7, 1e-6);
    let mut dense = Dense::with_weights(Tensor::zeros(&[1, 4]).unwrap(), vec![1., 2., 3., 4.])
        .unwrap()
        .activation(Activation::Softmax);
    let y = dense.forward(&Tensor::zeros(&[3, 1]).unwrap()).unwrap();
    for probs in y.data().chunks(4) {
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}

#[test]
fn tensor_shapes_must_fit_their_data() {
    assert!(Tensor::new(&[2, 3], vec![0.0; 5]).is_err());
    assert!(Tensor::zeros(&[usize::MAX, 2]).is_err(), "overflowing shape");
    assert!(Tensor::arange(&[6]).unwrap().reshape(&[4, 2]).is_err());
    assert!(Tensor::arange(&[3, 2]).unwrap().batch_range(2, 4).is_err());
}

/// A random batch in [-1, 1] and a random conv layer that fits it.
fn conv_case() -> impl Strategy<Value = (Tensor, Conv2D)> {
    (
        1usize..4,
        1usize..9,
        1usize..9,
        1usize..4,
        1usize..4,
        1usize..4,
        1usize..4,
        1usize..3,
        1usize..3,
        any::<bool>(),
    )
        .prop_filter("valid windows must fit", |&(_, h, w, _, _, kh, kw, ..)| kh <= h && kw <= w)
        .prop_flat_map(|(n, h, w, c, f, kh, kw, sh, sw, same)| {
            let x = prop::collection::vec(-1.0f32..1.0, n * h * w * c);
            let k = prop::collection::vec(-1.0f32..1.0, kh * kw * c * f);
            let b = prop::collection::vec(-1.0f32..1.0, f);
            (x, k, b).prop_map(move |(x, k, b)| {
                let padding = if same { Padding::Same } else { Padding::Valid };
                let conv = Conv2D::with_weights(Tensor::new(&[kh, kw, c, f], k).unwrap(), b)
                    .unwrap()
                    .strides((sh, sw))
                    .padding(padding);
                (Tensor::new(&[n, h, w, c], x).unwrap(), conv)
            })
        })
}

fn per_sample(layer: &mut dyn Layer, x: &Tensor) -> Tensor {
    let parts: Vec<Tensor> = (0..x.shape()[0])
        .map(|i| layer.forward(&x.batch_range(i, i + 1).unwrap()).unwrap().clone())
        .collect();
    Tensor::concat_batch(&parts).unwrap()
}

proptest! {
    #[test]
    fn conv_batched_equals_per_sample((x, mut conv) in conv_case()) {
        let batched = conv.forward(&x).unwrap().clone();
        prop_assert_eq!(batched, per_sample(&mut conv, &x));
    }

    #[test]
    fn pooling_batched_equals_per_sample((x, _) in conv_case(), p in 1usize..4, s in 1usize..3) {
        let (h, w) = (x.shape()[1], x.shape()[2]);
        prop_assume!(p <= h && p <= w);
        let mut max = MaxPooling2D::new((p, p)).strides((s, s));
        prop_assert_eq!(max.forward(&x).unwrap().clone(), per_sample(&mut max, &x));
        let mut avg = AveragePooling2D::new((p, p)).strides((s, s)).padding(Padding::Same);
        prop_assert_eq!(avg.forward(&x).unwrap().clone(), per_sample(&mut avg, &x));
    }

    #[test]
    fn the_engines_max_pooling_is_the_textbooks_bit_for_bit(
        n in 1usize..3, h in 1usize..8, w in 1usize..8, c in 1usize..40,
        p in 1usize..4, s in 1usize..4, same: bool, nan: bool, seed: u64,
    ) {
        // 1-39 channels: the engine's blocks of 16, of 8 and single channels. Values from a
        // handful of integers, so that windows have ties (the first maximum must win), some
        // of them NaN (a NaN must win) when `nan` is set.
        prop_assume!(same || (p <= h && p <= w));
        let padding = if same { Padding::Same } else { Padding::Valid };
        let win = Window2D::new((h, w), (p, p), (s, s), padding).unwrap();
        let x: Vec<f32> = (0..n * h * w * c)
            .map(|i| match (i as u64 * 7 + seed % 11) % 11 {
                10 if nan => f32::NAN,
                v => (v % 5) as f32 - 2.0,
            })
            .collect();
        let out_len = n * win.out_h * win.out_w * c;
        let dy: Vec<f32> = (0..out_len).map(|i| ((i * 13 + 5) % 7) as f32 - 3.0).collect();
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();

        let (mut y, mut argmax) = (vec![0.0; out_len], vec![0; out_len]);
        textbook_max_pool_forward(&win, n, c, &x, &mut y, &mut argmax);
        // The engine's outputs start as garbage: it must write every one.
        let (mut fast_y, mut fast_argmax) = (vec![7.5; out_len], vec![u32::MAX; out_len]);
        engine_pool::max_pool_forward(&win, c, &x, &mut fast_y, &mut fast_argmax);
        prop_assert_eq!(bits(&fast_y), bits(&y));
        prop_assert_eq!(&fast_argmax, &argmax);
        // Image by image, compiled for every instruction set the processor has.
        let (x_len, y_len) = (h * w * c, win.out_h * win.out_w * c);
        for isa in Isa::available() {
            let (mut isa_y, mut isa_argmax) = (vec![7.5; out_len], vec![u32::MAX; out_len]);
            let images = x.chunks(x_len).zip(isa_y.chunks_mut(y_len)).zip(isa_argmax.chunks_mut(y_len));
            for ((x, y), argmax) in images {
                engine_pool::max_pool_image_on(isa, &win, c, x, y, argmax);
            }
            prop_assert_eq!(bits(&isa_y), bits(&y), "{:?}", isa);
            prop_assert_eq!(&isa_argmax, &argmax, "{:?}", isa);
        }

        // Backward: every output's gradient to its window's winner. The textbook adds into
        // zeros; the engine overwrites whatever `dx` holds.
        let mut dx = vec![0.0; x.len()];
        textbook_max_pool_backward(&win, c, &dy, &argmax, &mut dx);
        let mut fast_dx = vec![f32::NAN; x.len()];
        engine_pool::max_pool_backward(&win, c, &dy, &argmax, &y, false, &mut fast_dx);
        prop_assert_eq!(bits(&fast_dx), bits(&dx));

        // Through a ReLU before the pooling: the textbook's pooling gradient, then the
        // ReLU's gradient at the pooling's input (the ReLU's output), as the textbook's model
        // takes them one layer after the other.
        let mut through_relu = vec![0.0; x.len()];
        Activation::Relu.backward(&x, &dx, &mut through_relu, c);
        engine_pool::max_pool_backward(&win, c, &dy, &argmax, &y, true, &mut fast_dx);
        prop_assert_eq!(bits(&fast_dx), bits(&through_relu));
    }

    #[test]
    fn same_padding_is_valid_on_the_zero_padded_input((x, conv) in conv_case()) {
        let kernel = conv.kernel().unwrap().clone();
        let (kh, kw) = (kernel.shape()[0], kernel.shape()[1]);
        let win = Window2D::new((x.shape()[1], x.shape()[2]), (kh, kw), (1, 1), Padding::Same).unwrap();
        let same = Conv2D::with_weights(kernel.clone(), conv.bias().to_vec()).unwrap().padding(Padding::Same).forward(&x).unwrap().clone();
        let padded = zero_pad(&x, win.pads).unwrap();
        let valid = Conv2D::with_weights(kernel, conv.bias().to_vec()).unwrap().forward(&padded).unwrap().clone();
        prop_assert_eq!(same, valid);
    }

    #[test]
    fn gemm_matches_the_textbook_triple_loop(
        rows in 1usize..12, inner in 1usize..12, cols in 1usize..12, seed in any::<u64>(),
    ) {
        // Small integers: every product and sum is exact in f32, so equality is exact.
        let value = |i: usize| ((seed.wrapping_add(i as u64).wrapping_mul(2654435761) % 17) as f32) - 8.0;
        let x: Vec<f32> = (0..rows * inner).map(value).collect();
        let w: Vec<f32> = (0..inner * cols).map(|i| value(i + 100)).collect();
        let mut expected = vec![0.0; rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                expected[r * cols + c] = (0..inner).map(|i| x[r * inner + i] * w[i * cols + c]).sum();
            }
        }
        let product = |a: Mat<'_>, b: Mat<'_>| {
            let mut c = vec![f32::NAN; rows * cols]; // beta = 0 must ignore what is there
            gemm(a, b, 0.0, &mut c);
            c
        };
        prop_assert_eq!(&product(Mat::new(&x, rows, inner), Mat::new(&w, inner, cols)), &expected);

        // The same product from transposed storage: xᵀ stored (inner, rows), wᵀ stored (cols, inner).
        let transpose = |m: &[f32], r: usize, c: usize| -> Vec<f32> {
            (0..c * r).map(|i| m[(i % r) * c + i / r]).collect()
        };
        let (xt, wt) = (transpose(&x, rows, inner), transpose(&w, inner, cols));
        prop_assert_eq!(&product(Mat::new(&xt, inner, rows).t(), Mat::new(&wt, cols, inner).t()), &expected);

        // beta = 1 adds to what is there.
        let mut c = expected.clone();
        gemm(Mat::new(&x, rows, inner), Mat::new(&wt, cols, inner).t(), 1.0, &mut c);
        prop_assert_eq!(c, expected.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
    }
}

#[test]
fn nan_is_never_hidden_by_relu_or_max_pooling() {
    let mut v = [f32::NAN, -1.0, 2.0];
    convnets::activation::relu(&mut v);
    assert!(v[0].is_nan());
    assert_eq!(&v[1..], &[0.0, 2.0]);
    let x = image(&[&[1., f32::NAN], &[3., 2.]]);
    assert!(MaxPooling2D::new((2, 2)).forward(&x).unwrap().data()[0].is_nan());
}
