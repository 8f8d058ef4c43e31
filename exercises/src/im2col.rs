//! Exercises of "im2col: convolution as matrix multiplication" (`chapters/im2col.md`): the
//! patch matrix, a matrix product, and the convolution as one product of the two.
//!
//! Replace each `todo!()` with your code, then grade this file:
//!
//! ```console
//! $ cargo test -p exercises --test im2col
//! ```

use convnets::{Padding, Tensor};

/// The patch matrix of the NHWC batch `x` for a `kernel_hw = (kh, kw)` window with
/// `strides` and `padding`: a 2-D tensor with one row per output position `(n, oh, ow)`
/// (in that order, `ow` fastest) and one column per window cell `(kh, kw, ci)` (in that
/// order, `ci` fastest): shape `(batch·out_h·out_w, kh·kw·in_channels)`. Cells in the
/// padding are zeros.
///
/// From the book (the crate's `src/engine/im2col.rs`): "Every output position `(n, oh, ow)`
/// reads one window of `k_h × k_w × in_c` input values. Copy each window into one row of a
/// *patch matrix* `cols` […] A row of `cols` lists its window in `(kh, kw, ci)` order, the
/// same order the HWIO kernel is stored in, so no transpose is needed anywhere."
pub fn im2col(x: &Tensor, kernel_hw: (usize, usize), strides: (usize, usize), padding: Padding) -> Tensor {
    todo!()
}

/// The matrix product `a · b` of a row-major `m × k` matrix `a` and a row-major `k × n`
/// matrix `b`: the row-major `m × n` matrix `c[i][j] = Σ_p a[i][p] · b[p][j]`.
pub fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    todo!()
}

/// The convolution of the strides chapter, computed as one matrix product: your patch
/// matrix `(batch·out_h·out_w, kh·kw·in_c)` times the HWIO kernel read as a
/// `(kh·kw·in_c, filters)` matrix, plus the bias on every row. The result already is the NHWC
/// output `[batch, out_h, out_w, filters]`.
///
/// From the crate's `src/engine/im2col.rs`: "`y = cols · kernel (batch·out_h·out_w, out_c)`,
/// which already is the NHWC output". Use your [`im2col`] and [`matmul`].
pub fn conv2d_gemm(
    x: &Tensor,
    kernel: &Tensor,
    bias: &[f32],
    strides: (usize, usize),
    padding: Padding,
) -> Tensor {
    todo!()
}
