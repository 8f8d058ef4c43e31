//! Exercises of "The convolution operation" (`chapters/convolution.md`): one output value,
//! then the whole output, for stride 1 and no padding (the next chapters add both).
//!
//! Replace each `todo!()` with your code, then grade this file:
//!
//! ```console
//! $ cargo test -p exercises --test convolution
//! ```
//!
//! Tensors are NHWC: `x.shape()` is `[batch, height, width, in_channels]`; kernels are HWIO:
//! `[kernel_height, kernel_width, in_channels, filters]`. Read values with
//! `x.get(&[n, h, w, c])` or `x.data()[((n * H + h) * W + w) * C + c]`; make an output with
//! `Tensor::zeros(&shape).unwrap()` and write into `y.data_mut()`.

use convnets::Tensor;

/// One output value of a convolution (stride 1, `valid` padding): the value of filter `co`
/// at output position `(oh, ow)` of image `n`.
///
/// From the book: "At each position, cut out the *patch* under the window: a small 3-D block
/// of shape `(3, 3, input_depth)`. Multiply the patch element by element with each filter,
/// which has exactly the same shape, and add up the products (plus one bias per filter)."
///
/// ```text
/// y[n, oh, ow, co] = bias[co] + Σ over kh, kw, ci of x[n, oh + kh, ow + kw, ci] · kernel[kh, kw, ci, co]
/// ```
///
/// Example: on the 5×5 image holding 0 to 24, a 3×3 filter of ones and bias 0 give 54 at
/// `(0, 0)`: `0+1+2+5+6+7+10+11+12`.
pub fn output_value(
    x: &Tensor,
    kernel: &Tensor,
    bias: &[f32],
    n: usize,
    oh: usize,
    ow: usize,
    co: usize,
) -> f32 {
    todo!()
}

/// The whole convolution (stride 1, `valid` padding): every output value of every filter at
/// every position of every image, as an NHWC tensor `[batch, out_h, out_w, filters]`.
///
/// From the book: "Slide the window over the input, stopping at every position where it
/// fits. […] Put these vectors back on a grid in the same arrangement as the positions they
/// came from, and you have the output feature map, of shape
/// `(out_height, out_width, output_depth)`." A 3×3 window fits at 26 × 26 positions of a
/// 28×28 image: along an axis of `n`, a window of `k` starts at `0, 1, …, n − k`.
pub fn conv2d_forward(x: &Tensor, kernel: &Tensor, bias: &[f32]) -> Tensor {
    todo!()
}
