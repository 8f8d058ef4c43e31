//! Exercises of "Border effects and padding" (`chapters/padding.md`): how many positions a
//! window visits, how TensorFlow splits `same` padding, and zero padding itself.
//!
//! Replace each `todo!()` with your code, then grade this file:
//!
//! ```console
//! $ cargo test -p exercises --test padding
//! ```

use convnets::{Padding, Pads, Tensor};

/// The number of window positions along one axis of length `n`, for a window of `k` and a
/// stride of `s`, as Keras computes it; `None` when there is no answer.
///
/// From the book (padding and strides chapters): along an axis of length `n`, with window `k`
/// and stride `s`, the windows start at `0, s, 2s, …` as long as they fit:
///
/// ```text
/// valid: ⌊(n − k) / s⌋ + 1        same: ⌈n / s⌉
/// ```
///
/// "A 5×5 kernel on a 3×3 input never fits with `valid` padding, and `n - k` would underflow
/// a `usize`; the function says so instead of wrapping around": return `None` then, and
/// also when `n`, `k` or `s` is 0.
pub fn out_len(n: usize, k: usize, s: usize, padding: Padding) -> Option<usize> {
    todo!()
}

/// TensorFlow's `same` padding along one axis: `(before, after)`, the zeros added on top (or
/// left) and at the bottom (or right) of an axis of `n`, for a window of `k` and stride `s`.
///
/// From the book: "The last window starts at `(out − 1) s` and covers `k` positions, so the
/// padded axis must be `(out − 1) s + k` long; the padding is whatever is missing:
/// `total = max((out − 1) s + k − n, 0)`." And when it is odd: "TensorFlow, and so Keras,
/// puts `total / 2` (rounded down) before and the extra zero **after**: at the bottom and on
/// the right."
///
/// Examples: `(28, 3, 1)` gives `(1, 1)`, `(4, 2, 1)` gives `(0, 1)`, `(28, 3, 2)` gives `(0, 1)`.
pub fn same_pads(n: usize, k: usize, s: usize) -> (usize, usize) {
    todo!()
}

/// Zero padding, literally: surround every image of the NHWC batch `x` with `pads.top` rows
/// of zeros above, `pads.bottom` below, `pads.left` columns on the left and `pads.right` on
/// the right. Every channel is padded; the batch and the channels keep their sizes.
///
/// From the book: "padding *is* just zeros around the image", so "convolving the zero-padded
/// image with `valid` padding gives exactly the `same` convolution of the original image."
pub fn zero_pad(x: &Tensor, pads: Pads) -> Tensor {
    todo!()
}
