//! Exercises of "Strides" (`chapters/strides.md`): which input row a window cell reads, and
//! the complete convolution with strides and padding.
//!
//! Replace each `todo!()` with your code, then grade this file:
//!
//! ```console
//! $ cargo test -p exercises --test strides
//! ```

use convnets::{Padding, Tensor};

/// The input row (or column) that kernel row `k` of output row `o` reads, along an axis of
/// `n` input rows padded with `pad_before` zeros in front, with stride `s`; `None` when that
/// cell falls in the padding (where the input is zero).
///
/// From the book: "Output position `(oh, ow)` reads input row `oh·s_h + kh − p_top` and
/// column `ow·s_w + kw − p_left`, and a position that falls in the padding contributes zero."
/// A cell can fall in the padding before the image (the subtraction would go below 0) or
/// after it (the row would be `n` or more).
pub fn input_index(o: usize, k: usize, s: usize, pad_before: usize, n: usize) -> Option<usize> {
    todo!()
}

/// The complete convolution: strides `(s_h, s_w)` and `valid` or `same` padding, NHWC input,
/// HWIO kernel, one bias per filter; the output is `[batch, out_h, out_w, filters]`.
///
/// From the book: "The complete convolution formula puts stride and padding together":
///
/// ```text
/// y[n, oh, ow, co] = bias[co] + Σ over kh, kw, ci of
///                    x[n, oh·s_h + kh − p_top, ow·s_w + kw − p_left, ci] · kernel[kh, kw, ci, co]
/// ```
///
/// where the terms whose input position falls in the padding are left out. The output size
/// is `out_len` of the padding chapter, the padding `(p_top, p_bottom)` TensorFlow's split
/// (`same_pads`). You may call your own `crate::padding::out_len`, `same_pads` and
/// `input_index` above.
pub fn conv2d_strided(
    x: &Tensor,
    kernel: &Tensor,
    bias: &[f32],
    strides: (usize, usize),
    padding: Padding,
) -> Tensor {
    todo!()
}
