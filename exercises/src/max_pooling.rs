//! Exercises of "Max pooling" (`chapters/max_pooling.md`): max pooling with the winners'
//! positions, and average pooling, both with `valid` padding.
//!
//! Replace each `todo!()` with your code, then grade this file:
//!
//! ```console
//! $ cargo test -p exercises --test max_pooling
//! ```

use convnets::Tensor;

/// Max pooling of the NHWC batch `x` with `pool = (pool_h, pool_w)` windows moved by
/// `strides = (s_h, s_w)`, `valid` padding: the pooled batch `[batch, out_h, out_w, channels]`,
/// and for each of its values, in the same order, the position of the input value that won
/// its window, as a flat index into `x.data()`.
///
/// From the book: "a window slides over the input feature map. But where a convolution
/// multiplies each patch by a learned kernel, max pooling applies a fixed operation, *take
/// the largest value*, and it does so separately for each channel: the output has as many
/// channels as the input." Its size follows the `valid` rule, `⌊(n − pool) / s⌋ + 1`, "which
/// is why 11 becomes 5: the last row and column have no partner and are dropped."
///
/// "Max pooling keeps the largest of them, and remembers *which* one won. […] On a tie, the
/// first maximum in row-major order wins, as in TensorFlow."
///
/// Example: the 4×4 image holding 0 to 15, pooled 2×2 with stride 2, gives `5, 7, 13, 15`,
/// and the winners are at positions `5, 7, 13, 15` of `x`.
pub fn max_pool_forward(x: &Tensor, pool: (usize, usize), strides: (usize, usize)) -> (Tensor, Vec<usize>) {
    todo!()
}

/// Average pooling of the NHWC batch `x`, as [`max_pool_forward`] but keeping the mean of
/// each window, channel by channel (`valid` padding: every window is full).
///
/// From the book: "**Average pooling** keeps the mean of each window instead of the maximum.
/// On the same image each window averages to its centre, `(0 + 1 + 4 + 5) / 4 = 2.5` for the
/// first."
pub fn avg_pool_forward(x: &Tensor, pool: (usize, usize), strides: (usize, usize)) -> Tensor {
    todo!()
}
