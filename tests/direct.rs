//! The direct convolution against the naive reference loops, over random geometries with
//! enough filters for whole and partial blocks of `direct::LANES`. Tolerance: 1e-5 absolute
//! + 1e-4 relative, as for im2col: the sums are the same products added in another order.

use convnets::conv::{ConvGeometry, direct, naive};
use convnets::gradcheck::{Tolerance, check_layer};
use convnets::testing::assert_close;
use convnets::{Activation, Conv2D, ConvAlgorithm, Layer, Padding, Tensor};
use proptest::prelude::*;

const ATOL: f32 = 1e-5;
const RTOL: f32 = 1e-4;

/// A random geometry with inputs, kernel, bias and output gradient in [-1, 1].
#[derive(Debug, Clone)]
struct Case {
    g: ConvGeometry,
    x: Vec<f32>,
    kernel: Vec<f32>,
    bias: Vec<f32>,
    dy: Vec<f32>,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..4, 1usize..9, 1usize..9, 1usize..4, 1usize..40, 1usize..4, 1usize..4, 1usize..3, any::<bool>())
        .prop_filter_map("the window must fit", |(n, h, w, c, f, k_h, k_w, s, same)| {
            let padding = if same { Padding::Same } else { Padding::Valid };
            ConvGeometry::new(&[n, h, w, c], &[k_h, k_w, c, f], (s, s), padding).ok()
        })
        .prop_flat_map(|g| {
            let sizes =
                (g.batch * g.sample_input_len(), g.patch_len() * g.out_c, g.batch * g.sample_output_len());
            let v = |len| prop::collection::vec(-1.0f32..1.0, len);
            (v(sizes.0), v(sizes.1), v(g.out_c), v(sizes.2)).prop_map(move |(x, kernel, bias, dy)| Case {
                g,
                x,
                kernel,
                bias,
                dy,
            })
        })
}

proptest! {
    #[test]
    fn direct_forward_equals_naive(c in case()) {
        let len = c.dy.len();
        let (mut fast, mut slow) = (vec![0.0; len], vec![0.0; len]);
        direct::forward(&c.g, &c.x, &c.kernel, &c.bias, Activation::Linear, &mut fast);
        naive::forward(&c.g, &c.x, &c.kernel, &c.bias, &mut slow);
        assert_close(&fast, &slow, ATOL, RTOL);
    }

    #[test]
    fn direct_gradients_equal_naive(c in case()) {
        let zeros = |len| vec![0.0f32; len];
        let (mut dx1, mut dk1, mut db1) = (zeros(c.x.len()), zeros(c.kernel.len()), zeros(c.bias.len()));
        let (mut dx2, mut dk2, mut db2) = (zeros(c.x.len()), zeros(c.kernel.len()), zeros(c.bias.len()));
        direct::backward(&c.g, &c.x, &c.kernel, &c.dy, Some(&mut dx1), &mut dk1, &mut db1);
        naive::backward(&c.g, &c.x, &c.kernel, &c.dy, &mut dx2, &mut dk2, &mut db2);
        assert_close(&dx1, &dx2, ATOL, RTOL);
        assert_close(&dk1, &dk2, ATOL, RTOL);
        assert_close(&db1, &db2, ATOL, RTOL);
        // Without dx, the same kernel and bias gradients.
        let (mut dk3, mut db3) = (zeros(c.kernel.len()), zeros(c.bias.len()));
        direct::backward(&c.g, &c.x, &c.kernel, &c.dy, None, &mut dk3, &mut db3);
        prop_assert_eq!(dk3, dk1);
        prop_assert_eq!(db3, db1);
    }

    #[test]
    fn direct_layer_passes_the_gradient_check(c in case()) {
        let x = input(&c);
        check_layer(&mut layer(&c, Activation::Linear, ConvAlgorithm::Direct), &x, 1, Tolerance::default())
            .unwrap()
            .assert_passed();
    }

    #[test]
    fn direct_layer_with_relu_equals_the_naive_layer(c in case()) {
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

fn input(c: &Case) -> Tensor {
    Tensor::new(&c.g.input_shape(), c.x.clone()).unwrap()
}

fn layer(c: &Case, activation: Activation, algorithm: ConvAlgorithm) -> Conv2D {
    let w = c.g.window;
    let kernel = Tensor::new(&[w.k_h, w.k_w, c.g.in_c, c.g.out_c], c.kernel.clone()).unwrap();
    let padding = if w.pads == Default::default() { Padding::Valid } else { Padding::Same };
    Conv2D::with_weights(kernel, c.bias.clone())
        .unwrap()
        .strides((w.stride_h, w.stride_w))
        .padding(padding)
        .activation(activation)
        .algorithm(algorithm)
}

#[test]
fn auto_picks_direct_for_short_windows_only() {
    let geometry = |in_c, filters| {
        ConvGeometry::new(&[1, 28, 28, in_c], &[3, 3, in_c, filters], (1, 1), Padding::Valid).unwrap()
    };
    // The book's layers: 9 values per window against 32 filters, then 288 against 64, 576 against 64.
    assert_eq!(ConvAlgorithm::Auto.for_geometry(&geometry(1, 32)), ConvAlgorithm::Direct);
    assert_eq!(ConvAlgorithm::Auto.for_geometry(&geometry(32, 64)), ConvAlgorithm::Im2col);
    assert_eq!(ConvAlgorithm::Auto.for_geometry(&geometry(64, 64)), ConvAlgorithm::Im2col);
    // A choice made by hand is kept.
    assert_eq!(ConvAlgorithm::Im2col.for_geometry(&geometry(1, 32)), ConvAlgorithm::Im2col);
    assert_eq!(ConvAlgorithm::Direct.for_geometry(&geometry(64, 64)), ConvAlgorithm::Direct);
}
