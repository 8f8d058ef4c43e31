//! Convolution as one matrix multiplication: im2col ("image to columns") + GEMM.
//!
//! Every output position `(n, oh, ow)` reads one window of `k_h × k_w × in_c` input values.
//! Copy each window into one row of a *patch matrix* `cols`, and the convolution becomes
//!
//! ```text
//! cols   (batch·out_h·out_w, k_h·k_w·in_c)   one row per output position
//! kernel (k_h·k_w·in_c, out_c)               the HWIO kernel, read as a matrix
//! y = cols · kernel  (batch·out_h·out_w, out_c)   which already is the NHWC output
//! ```
//!
//! A row of `cols` lists its window in `(kh, kw, ci)` order, the same order the HWIO kernel
//! is stored in, so no transpose is needed anywhere. The price is memory: each input value
//! is copied into up to `k_h·k_w` rows. The backward pass is two more products,
//! `dkernel = colsᵀ · dy` and `dcols = dy · kernelᵀ`, and `col2im` adds each `dcols` row
//! back onto the window it came from.

use super::ConvGeometry;
use crate::dense::{matmul, matmul_a_bt, matmul_at_b};

impl ConvGeometry {
    /// Rows of the patch matrix: one per output position, `batch · out_h · out_w`.
    pub fn patch_rows(&self) -> usize {
        self.batch * self.window.out_h * self.window.out_w
    }

    /// Columns of the patch matrix: one per kernel weight of one filter, `k_h · k_w · in_c`.
    pub fn patch_len(&self) -> usize {
        self.window.k_h * self.window.k_w * self.in_c
    }
}

// ANCHOR: im2col
/// Fills `cols` (`patch_rows × patch_len`, row-major) with every window of `x`; window
/// positions in the padding are zeros.
pub fn im2col(g: &ConvGeometry, x: &[f32], cols: &mut [f32]) {
    let w = &g.window;
    let c = g.in_c;
    let mut rows = cols.chunks_exact_mut(g.patch_len());
    for n in 0..g.batch {
        for oh in 0..w.out_h {
            for ow in 0..w.out_w {
                let Some(row) = rows.next() else { return };
                // One (kh, kw) position holds `in_c` contiguous values in both x and the row.
                for kh in 0..w.k_h {
                    for kw in 0..w.k_w {
                        let dst = &mut row[(kh * w.k_w + kw) * c..][..c];
                        match (w.input_row(oh, kh), w.input_col(ow, kw)) {
                            (Some(ih), Some(iw)) => {
                                dst.copy_from_slice(&x[((n * w.in_h + ih) * w.in_w + iw) * c..][..c])
                            }
                            _ => dst.fill(0.0),
                        }
                    }
                }
            }
        }
    }
}
// ANCHOR_END: im2col

// ANCHOR: col2im
/// The reverse of [`im2col`] for gradients: adds every row of `dcols` back onto the input
/// positions its window covered. Overlapping windows add up; padding is dropped.
pub fn col2im(g: &ConvGeometry, dcols: &[f32], dx: &mut [f32]) {
    let w = &g.window;
    let c = g.in_c;
    let mut rows = dcols.chunks_exact(g.patch_len());
    for n in 0..g.batch {
        for oh in 0..w.out_h {
            for ow in 0..w.out_w {
                let Some(row) = rows.next() else { return };
                for kh in 0..w.k_h {
                    let Some(ih) = w.input_row(oh, kh) else { continue };
                    for kw in 0..w.k_w {
                        let Some(iw) = w.input_col(ow, kw) else { continue };
                        let src = &row[(kh * w.k_w + kw) * c..][..c];
                        let dst = &mut dx[((n * w.in_h + ih) * w.in_w + iw) * c..][..c];
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d += s;
                        }
                    }
                }
            }
        }
    }
}
// ANCHOR_END: col2im

// ANCHOR: forward
/// `y = conv(x, kernel) + bias` as `cols · kernel`, then the bias added to every row.
/// Same arguments and result as [`naive::forward`](super::naive::forward).
pub fn forward(g: &ConvGeometry, x: &[f32], kernel: &[f32], bias: &[f32], y: &mut [f32]) {
    let mut cols = vec![0.0; g.patch_rows() * g.patch_len()];
    im2col(g, x, &mut cols);
    let product = matmul(&cols, kernel, g.patch_rows(), g.patch_len(), g.out_c);
    for (out, row) in y.chunks_exact_mut(g.out_c).zip(product.chunks_exact(g.out_c)) {
        for ((o, p), b) in out.iter_mut().zip(row).zip(bias) {
            *o = p + b;
        }
    }
}
// ANCHOR_END: forward

// ANCHOR: backward
/// The gradients as products: `dkernel += colsᵀ · dy`, `dbias +=` the column sums of `dy`,
/// and `dx += col2im(dy · kernelᵀ)`. Same arguments and result as
/// [`naive::backward`](super::naive::backward).
pub fn backward(
    g: &ConvGeometry,
    x: &[f32],
    kernel: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    let (rows, len) = (g.patch_rows(), g.patch_len());
    let mut cols = vec![0.0; rows * len];
    im2col(g, x, &mut cols);
    for (dk, d) in dkernel.iter_mut().zip(matmul_at_b(&cols, dy, rows, len, g.out_c)) {
        *dk += d;
    }
    for row in dy.chunks_exact(g.out_c) {
        for (db, d) in dbias.iter_mut().zip(row) {
            *db += d;
        }
    }
    let dcols = matmul_a_bt(dy, kernel, rows, g.out_c, len);
    col2im(g, &dcols, dx);
}
// ANCHOR_END: backward
