//! Random convolutions for the property tests that hold a fast algorithm against the naive
//! loops (`tests/im2col.rs`, `tests/direct.rs`).
#![allow(dead_code)]

use std::ops::Range;

use convnets::conv::ConvGeometry;
use convnets::{Activation, Conv2D, ConvAlgorithm, Padding, Tensor};
use proptest::prelude::*;

/// Tolerance against the naive loops: 1e-5 absolute + 1e-4 relative. A fast algorithm sums
/// the same products in another order (and with fused multiply-adds), which moves f32
/// results by a few units in the last place.
pub const ATOL: f32 = 1e-5;
pub const RTOL: f32 = 1e-4;

/// A random geometry with inputs, kernel, bias and output gradient in [-1, 1].
#[derive(Debug, Clone)]
pub struct Case {
    pub g: ConvGeometry,
    pub x: Vec<f32>,
    pub kernel: Vec<f32>,
    pub bias: Vec<f32>,
    pub dy: Vec<f32>,
}

/// Cases of 1–3 images up to 9×9, 1–4 channels, windows up to 4×4, strides up to 3, `valid`
/// or `same`, with a number of filters drawn from `filters`.
pub fn case(filters: Range<usize>) -> impl Strategy<Value = Case> {
    (
        1usize..4,
        1usize..10,
        1usize..10,
        1usize..5,
        filters,
        1usize..5,
        1usize..5,
        1usize..4,
        1usize..4,
        any::<bool>(),
    )
        .prop_filter_map("the window must fit", |(n, h, w, c, f, kh, kw, sh, sw, same)| {
            let padding = if same { Padding::Same } else { Padding::Valid };
            ConvGeometry::new(&[n, h, w, c], &[kh, kw, c, f], (sh, sw), padding).ok()
        })
        .prop_flat_map(|g| {
            let sizes = (
                g.batch * g.sample_input_len(),
                g.patch_len() * g.out_c,
                g.out_c,
                g.batch * g.sample_output_len(),
            );
            let v = |len| prop::collection::vec(-1.0f32..1.0, len);
            (v(sizes.0), v(sizes.1), v(sizes.2), v(sizes.3)).prop_map(move |(x, kernel, bias, dy)| Case {
                g,
                x,
                kernel,
                bias,
                dy,
            })
        })
}

/// The case's input as a tensor.
pub fn input(c: &Case) -> Tensor {
    Tensor::new(&c.g.input_shape(), c.x.clone()).unwrap()
}

/// A `Conv2D` layer with the case's kernel, bias, strides and padding.
pub fn layer(c: &Case, activation: Activation, algorithm: ConvAlgorithm) -> Conv2D {
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
