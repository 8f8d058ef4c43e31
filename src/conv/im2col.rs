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
//!
//! Parallelism: the batch is cut into one run of consecutive samples per rayon thread.
//! Each run's rows of `cols`, `y`, `dx` are its own, so the threads never share a buffer; the
//! kernel and bias gradients are computed per run and then added up in run order, so a
//! given thread count always gives the same bits.

use rayon::prelude::*;

use super::ConvGeometry;
use crate::activation::Activation;
use crate::gemm::{Mat, gemm, gemm_into_transposed};

impl ConvGeometry {
    /// Rows of the patch matrix: one per output position, `batch · out_h · out_w`.
    pub fn patch_rows(&self) -> usize {
        self.batch * self.window.out_h * self.window.out_w
    }

    /// Columns of the patch matrix: one per kernel weight of one filter, `k_h · k_w · in_c`.
    pub fn patch_len(&self) -> usize {
        self.window.k_h * self.window.k_w * self.in_c
    }

    /// The same convolution over `batch` samples.
    fn with_batch(&self, batch: usize) -> ConvGeometry {
        ConvGeometry { batch, ..*self }
    }
}

/// The buffers an im2col convolution keeps from one call to the next, so that training
/// does not allocate megabytes per step, and so backward can reuse forward's patch matrix.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// The patch matrix of the last forward pass: `(patch_rows, patch_len)`.
    cols: Vec<f32>,
    /// `dy · kernelᵀ`, before col2im: `(patch_rows, patch_len)`.
    dcols: Vec<f32>,
    /// Each run's kernel and bias gradients, added up in order at the end.
    partials: Vec<f32>,
}

/// Samples per parallel run: the batch split as evenly as the threads allow.
fn samples_per_run(batch: usize) -> usize {
    batch.div_ceil(rayon::current_num_threads().max(1)).max(1)
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
/// `y = activation(conv(x, kernel) + bias)` as `cols · kernel`, with the bias and the
/// activation applied to each run's output while it is still in cache. Keeps the patch matrix in `ws` for
/// [`backward_with`]. Slices must have the lengths the geometry gives (the layer checks
/// them); a shorter one panics.
pub fn forward_with(
    ws: &mut Workspace,
    g: &ConvGeometry,
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    activation: Activation,
    y: &mut [f32],
) {
    let (len, out_c) = (g.patch_len(), g.out_c);
    let sample_rows = g.window.out_h * g.window.out_w;
    let sample_len = g.window.in_h * g.window.in_w * g.in_c;
    let per_run = samples_per_run(g.batch);
    // Every element of `cols` is written by im2col, so resizing needs no clearing.
    ws.cols.resize(g.patch_rows() * len, 0.0);
    if g.batch == 0 {
        return;
    }
    ws.cols
        .par_chunks_mut(per_run * sample_rows * len)
        .zip(y.par_chunks_mut(per_run * sample_rows * out_c))
        .zip(x.par_chunks(per_run * sample_len))
        .for_each(|((cols, y), x)| {
            let run = g.with_batch(x.len() / sample_len);
            im2col(&run, x, cols);
            // cols: [run rows, len] · kernel: [len, out_c] = y: [run rows, out_c]
            gemm(Mat::new(cols, run.patch_rows(), len), Mat::new(kernel, len, out_c), 0.0, y);
            for row in y.chunks_exact_mut(out_c) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
            activation.apply(y, out_c);
        });
}
// ANCHOR_END: forward

// ANCHOR: backward
/// The gradients of the last [`forward_with`] on `ws`, as products: `dkernel += colsᵀ · dy`,
/// `dbias +=` the column sums of `dy`, and, if `dx` is given, `dx += col2im(dy · kernelᵀ)`.
/// (The first layer of a model needs no `dx`: nothing comes before it.) `ws` must hold the
/// patch matrix of a [`forward_with`] with the same geometry.
pub fn backward_with(
    ws: &mut Workspace,
    g: &ConvGeometry,
    kernel: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    let (len, out_c) = (g.patch_len(), g.out_c);
    let sample_rows = g.window.out_h * g.window.out_w;
    let sample_len = g.window.in_h * g.window.in_w * g.in_c;
    let per_run = samples_per_run(g.batch);
    if g.batch == 0 {
        return;
    }
    // Anything else is a bug in the caller, not bad input: the gradients would be garbage.
    assert_eq!(ws.cols.len(), g.patch_rows() * len, "backward_with needs forward_with's patch matrix");
    let runs = g.batch.div_ceil(per_run);
    let partial_len = kernel.len() + out_c;
    ws.partials.resize(runs * partial_len, 0.0);
    let need_dx = dx.is_some();
    ws.dcols.resize(if need_dx { g.patch_rows() * len } else { 0 }, 0.0);

    // One work item per run, each with its own slices of every buffer.
    let dx_runs: Vec<Option<&mut [f32]>> = match dx {
        Some(dx) => dx.chunks_mut(per_run * sample_len).map(Some).collect(),
        None => (0..runs).map(|_| None).collect(),
    };
    let mut dcols_runs: Vec<&mut [f32]> = ws.dcols.chunks_mut(per_run * sample_rows * len).collect();
    dcols_runs.resize_with(runs, Default::default);
    let items: Vec<_> = ws
        .cols
        .chunks(per_run * sample_rows * len)
        .zip(dy.chunks(per_run * sample_rows * out_c))
        .zip(dx_runs)
        .zip(dcols_runs)
        .zip(ws.partials.chunks_mut(partial_len))
        .collect();
    items.into_par_iter().for_each(|((((cols, dy), dx), dcols), partial)| {
        let rows = dy.len() / out_c;
        let (dk, db) = partial.split_at_mut(kernel.len());
        // dkernel = colsᵀ · dy, computed as its transpose dyᵀ · cols: [out_c, rows] · [rows, len]
        // written into dk's storage column by column. Reading `cols` row by row (as the right
        // operand) is much faster than gathering its columns.
        gemm_into_transposed(Mat::new(dy, rows, out_c).t(), Mat::new(cols, rows, len), dk);
        db.fill(0.0);
        for row in dy.chunks_exact(out_c) {
            for (d, v) in db.iter_mut().zip(row) {
                *d += v;
            }
        }
        if let Some(dx) = dx {
            // dy: [rows, out_c] · kernelᵀ: [out_c, len] = dcols: [rows, len]
            gemm(Mat::new(dy, rows, out_c), Mat::new(kernel, len, out_c).t(), 0.0, dcols);
            col2im(&g.with_batch(rows / sample_rows), dcols, dx);
        }
    });
    // Add the runs' gradients in run order, so the result does not depend on timing.
    for partial in ws.partials.chunks(partial_len) {
        let (dk, db) = partial.split_at(kernel.len());
        dkernel.iter_mut().zip(dk).for_each(|(a, b)| *a += b);
        dbias.iter_mut().zip(db).for_each(|(a, b)| *a += b);
    }
}
// ANCHOR_END: backward

/// `y = conv(x, kernel) + bias` through im2col + GEMM, with fresh buffers. Same arguments
/// and result as [`naive::forward`](super::naive::forward).
pub fn forward(g: &ConvGeometry, x: &[f32], kernel: &[f32], bias: &[f32], y: &mut [f32]) {
    forward_with(&mut Workspace::default(), g, x, kernel, bias, Activation::Linear, y);
}

/// The gradients through im2col + GEMM, with fresh buffers. Same arguments and result as
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
    let mut ws = Workspace { cols: vec![0.0; g.patch_rows() * g.patch_len()], ..Workspace::default() };
    im2col(g, x, &mut ws.cols);
    backward_with(&mut ws, g, kernel, dy, Some(dx), dkernel, dbias);
}
