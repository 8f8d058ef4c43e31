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
//! Two things keep this fast on a CPU:
//!
//! - **Tiles.** The whole batch's patch matrix is large (9 MB for the book's second layer at
//!   batch 64, six times its input), and writing it out to main memory only to read it back
//!   costs more than the multiplication. So the batch goes through in *tiles* of a few samples
//!   whose patch matrix fits in a core's L2 cache, and the backward pass rebuilds each tile's
//!   patch matrix from the saved input instead of keeping the whole one (unless it is smaller
//!   than the output: `keeps_patches`).
//! - **Parallel runs.** The batch is cut into one run of consecutive samples per rayon
//!   thread. Each run's rows of `cols`, `y`, `dx` are its own, so the threads never share a
//!   buffer; the kernel and bias gradients are summed per run and then added up in run order,
//!   so a given thread count always gives the same bits.

use rayon::prelude::*;

use super::gemm::{Mat, gemm, gemm_into_transposed};
use super::runs::{add_weight_grads_in_order, samples_per_run};
use crate::activation::Activation;
use crate::geometry::ConvGeometry;

/// How many bytes of patch matrix and output one tile may fill: small enough that they stay
/// in a core's L2 cache (1–2 MiB on current CPUs) between being written and being read,
/// large enough that each GEMM has a few hundred rows to amortise its own packing. (Measured
/// on the book's model: 256 KiB to 2 MiB all do about as well; the whole batch at once is
/// slower.)
pub const TILE_BYTES: usize = 512 * 1024;

/// The buffers an im2col convolution keeps from one call to the next, so that training
/// does not allocate per step: one set of tile-sized scratch buffers per parallel run.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// Samples per tile; `None` chooses from [`TILE_BYTES`].
    tile_samples: Option<usize>,
    /// One set of buffers per parallel run.
    runs: Vec<RunBuffers>,
}

/// One parallel run's scratch space.
#[derive(Debug, Clone, Default)]
struct RunBuffers {
    /// The patch matrix of one tile: `(tile rows, patch_len)`.
    cols: Vec<f32>,
    /// The whole run's patch matrix, kept from the forward pass for the backward pass when it
    /// is no larger than the output (see [`keeps_patches`]); empty otherwise.
    kept: Vec<f32>,
    /// `dz · kernelᵀ` for one tile, before col2im: `(tile rows, patch_len)`.
    dcols: Vec<f32>,
    /// The gradient before the activation, `∂loss/∂z`, for one tile: `(tile rows, out_c)`.
    dz: Vec<f32>,
    /// This run's kernel gradient followed by its bias gradient.
    partial: Vec<f32>,
}

impl Workspace {
    /// A workspace that cuts every run into tiles of `samples` samples (at least 1), whatever
    /// their size: for tests and experiments. [`Workspace::default`] sizes tiles by
    /// [`TILE_BYTES`].
    pub fn with_tile_samples(samples: usize) -> Workspace {
        Workspace { tile_samples: Some(samples.max(1)), runs: Vec::new() }
    }

    /// Samples per tile for geometry `g`.
    fn tile_samples(&self, g: &ConvGeometry) -> usize {
        let sample_bytes = g.sample_rows() * (g.patch_len() + g.out_c) * size_of::<f32>();
        self.tile_samples.unwrap_or(TILE_BYTES / sample_bytes.max(1)).max(1)
    }

    /// One set of buffers for each of `runs` runs.
    fn runs(&mut self, runs: usize) -> &mut [RunBuffers] {
        self.runs.resize_with(runs, RunBuffers::default);
        &mut self.runs
    }
}

/// `buffer[..len]`, growing the buffer if it is shorter (growing is the only time it
/// allocates; what it held before is overwritten by the caller).
fn scratch(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

/// Whether the forward pass keeps its patch matrix for the backward pass, rather than the
/// backward pass rebuilding it tile by tile. Keeping it means writing it out to memory and
/// reading it back; rebuilding it means copying the input again. When a patch row is no
/// longer than an output row (a first layer with one input channel: 9 values against 32
/// filters), keeping is the cheaper of the two.
fn keeps_patches(g: &ConvGeometry) -> bool {
    g.patch_len() <= g.out_c
}

// ANCHOR: im2col
/// Fills `cols` (`patch_rows × patch_len`, row-major) with every window of `x`; window
/// positions in the padding are zeros.
pub fn im2col(g: &ConvGeometry, x: &[f32], cols: &mut [f32]) {
    let w = &g.window;
    let c = g.in_c;
    let mut rows = cols.chunks_exact_mut(g.patch_len());
    for image in x.chunks_exact(w.in_h * w.in_w * c).take(g.batch) {
        for oh in 0..w.out_h {
            for ow in 0..w.out_w {
                let Some(row) = rows.next() else { return };
                // Along a kernel row, the columns inside the image read consecutive pixels,
                // and a pixel's channels are consecutive too: one copy per kernel row.
                let (inside, iw) = w.kernel_cols_inside(ow);
                let (before, after) = (inside.start * c, inside.end * c);
                for (kh, dst) in row.chunks_exact_mut(w.k_w * c).enumerate() {
                    let Some(ih) = w.input_row(oh, kh) else {
                        dst.fill(0.0);
                        continue;
                    };
                    let src = &image[(ih * w.in_w + iw) * c..][..after - before];
                    copy_short(&mut dst[before..after], src);
                    if before > 0 || after < dst.len() {
                        dst[..before].fill(0.0);
                        dst[after..].fill(0.0);
                    }
                }
            }
        }
    }
}
// ANCHOR_END: im2col

/// `dst.copy_from_slice(src)`, fast for the few values of a grey image's kernel row too.
///
/// A copy whose length is only known at run time calls `memcpy`, and for a handful of values
/// the call costs several times the copy. A copy whose length is a constant becomes a few
/// plain moves, so the short lengths get one each.
#[inline]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    fn fixed<const N: usize>(dst: &mut [f32], src: &[f32]) {
        dst[..N].copy_from_slice(&src[..N]);
    }
    match dst.len() {
        1 => fixed::<1>(dst, src),
        2 => fixed::<2>(dst, src),
        3 => fixed::<3>(dst, src),
        4 => fixed::<4>(dst, src),
        5 => fixed::<5>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

// ANCHOR: col2im
/// The reverse of [`im2col`] for gradients: adds every row of `dcols` back onto the input
/// positions its window covered. Overlapping windows add up; padding is dropped.
pub fn col2im(g: &ConvGeometry, dcols: &[f32], dx: &mut [f32]) {
    let w = &g.window;
    let c = g.in_c;
    let mut rows = dcols.chunks_exact(g.patch_len());
    for image in dx.chunks_exact_mut(w.in_h * w.in_w * c).take(g.batch) {
        for oh in 0..w.out_h {
            for ow in 0..w.out_w {
                let Some(row) = rows.next() else { return };
                // As in im2col: one contiguous run of the image per kernel row.
                let (inside, iw) = w.kernel_cols_inside(ow);
                let (before, after) = (inside.start * c, inside.end * c);
                for (kh, src) in row.chunks_exact(w.k_w * c).enumerate() {
                    let Some(ih) = w.input_row(oh, kh) else { continue };
                    let dst = &mut image[(ih * w.in_w + iw) * c..][..after - before];
                    dst.iter_mut().zip(&src[before..after]).for_each(|(d, s)| *d += s);
                }
            }
        }
    }
}
// ANCHOR_END: col2im

// ANCHOR: forward
/// `y = activation(conv(x, kernel) + bias)` as `cols · kernel`, one tile at a time: build the
/// tile's patch matrix, multiply, add the bias and apply the activation while the tile's
/// output is still in cache. Slices must have the lengths the geometry gives (the layer
/// checks them); a shorter one panics.
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
    let (x_len, y_len) = (g.sample_input_len(), g.sample_output_len());
    if g.batch == 0 || x_len == 0 || y_len == 0 {
        return;
    }
    let (per_run, per_tile) = (samples_per_run(g.batch), ws.tile_samples(g));
    let runs = ws.runs(g.batch.div_ceil(per_run));
    let x_runs = x.par_chunks(per_run * x_len);
    let keep = keeps_patches(g);
    runs.par_iter_mut().zip(x_runs).zip(y.par_chunks_mut(per_run * y_len)).for_each(|((buf, x), y)| {
        let run_rows = x.len() / x_len * g.sample_rows();
        buf.kept.resize(if keep { run_rows * len } else { 0 }, 0.0);
        for (i, (x, y)) in x.chunks(per_tile * x_len).zip(y.chunks_mut(per_tile * y_len)).enumerate() {
            let tile = g.with_batch(x.len() / x_len);
            let cols = if keep {
                &mut buf.kept[i * per_tile * g.sample_rows() * len..][..tile.patch_rows() * len]
            } else {
                scratch(&mut buf.cols, tile.patch_rows() * len)
            };
            im2col(&tile, x, cols);
            // cols: [tile rows, len] · kernel: [len, out_c] = y: [tile rows, out_c]
            gemm(Mat::new(cols, tile.patch_rows(), len), Mat::new(kernel, len, out_c), 0.0, y);
            for row in y.chunks_exact_mut(out_c) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
                activation.apply(row, out_c);
            }
        }
    });
}
// ANCHOR_END: forward

/// What a forward pass saw and produced: what the backward pass needs.
#[derive(Debug, Clone, Copy)]
pub struct ForwardPass<'a> {
    /// The input `x`.
    pub input: &'a [f32],
    /// The output `y`, after the activation.
    pub output: &'a [f32],
    /// The activation that made `output`.
    pub activation: Activation,
}

/// Where the backward pass puts its gradients.
#[derive(Debug)]
pub struct Gradients<'a> {
    /// `∂loss/∂x`, if wanted. (The first layer of a model needs none: nothing comes before it.)
    pub dx: Option<&'a mut [f32]>,
    /// The kernel and bias gradients, if wanted. A layer whose direct loops compute them asks
    /// for `dx` only, which needs no patch matrix.
    pub weights: Option<WeightGradients<'a>>,
}

/// `∂loss/∂kernel` and `∂loss/∂bias`, added to.
#[derive(Debug)]
pub struct WeightGradients<'a> {
    /// `∂loss/∂kernel`, added to.
    pub dkernel: &'a mut [f32],
    /// `∂loss/∂bias`, added to.
    pub dbias: &'a mut [f32],
}

// ANCHOR: backward
/// The gradients of a forward pass given `dy = ∂loss/∂y`, tile by tile: the activation's
/// gradient gives `dz`; if the weight gradients are wanted, the tile's patch matrix is
/// rebuilt from the input, and `dkernel += colsᵀ · dz`, `dbias +=` the column sums of `dz`;
/// if `dx` is wanted, `dx = col2im(dz · kernelᵀ)` (overwritten, not added to).
///
/// If the weight gradients are wanted, `ws` must be the workspace of the [`forward_with`]
/// that produced `seen` (or a fresh one): for some geometries it holds that pass's patch
/// matrix.
pub fn backward_with(
    ws: &mut Workspace,
    g: &ConvGeometry,
    kernel: &[f32],
    seen: ForwardPass<'_>,
    dy: &[f32],
    grads: Gradients<'_>,
) {
    let (len, out_c) = (g.patch_len(), g.out_c);
    let (x_len, y_len) = (g.sample_input_len(), g.sample_output_len());
    if g.batch == 0 || x_len == 0 || y_len == 0 {
        return;
    }
    let (per_run, per_tile) = (samples_per_run(g.batch), ws.tile_samples(g));
    let keep = keeps_patches(g);
    let weights = grads.weights.is_some();
    let runs = ws.runs(g.batch.div_ceil(per_run));
    // One work item per run, each with its own slices of every buffer.
    let dx_runs: Vec<Option<&mut [f32]>> = match grads.dx {
        Some(dx) => dx.chunks_mut(per_run * x_len).map(Some).collect(),
        None => (0..runs.len()).map(|_| None).collect(),
    };
    let items: Vec<_> = runs
        .iter_mut()
        .zip(seen.input.chunks(per_run * x_len))
        .zip(seen.output.chunks(per_run * y_len))
        .zip(dy.chunks(per_run * y_len))
        .zip(dx_runs)
        .collect();
    items.into_par_iter().for_each(|((((buf, x), y), dy), mut dx)| {
        let partial = scratch(&mut buf.partial, kernel.len() + out_c);
        partial.fill(0.0);
        let (dk, db) = partial.split_at_mut(kernel.len());
        let tiles =
            x.chunks(per_tile * x_len).zip(y.chunks(per_tile * y_len)).zip(dy.chunks(per_tile * y_len));
        for (i, ((x, y), dy)) in tiles.enumerate() {
            let tile = g.with_batch(x.len() / x_len);
            let rows = tile.patch_rows();
            let dz = if seen.activation == Activation::Linear {
                dy // nothing to undo: the gradient already is dz
            } else {
                let dz = scratch(&mut buf.dz, dy.len());
                seen.activation.backward(y, dy, dz, out_c);
                dz
            };
            if weights {
                let kept_at = i * per_tile * g.sample_rows() * len;
                let cols = match buf.kept.get(kept_at..kept_at + rows * len) {
                    Some(kept) if keep => kept,
                    _ => {
                        let cols = scratch(&mut buf.cols, rows * len);
                        im2col(&tile, x, cols);
                        cols
                    }
                };
                // dkernel += colsᵀ · dz, computed as its transpose dzᵀ · cols: [out_c, rows] ·
                // [rows, len], written into dk's storage column by column. Reading `cols` row
                // by row (as the right operand) is much faster than gathering its columns.
                gemm_into_transposed(Mat::new(dz, rows, out_c).t(), Mat::new(cols, rows, len), 1.0, dk);
                for row in dz.chunks_exact(out_c) {
                    db.iter_mut().zip(row).for_each(|(d, v)| *d += v);
                }
            }
            if let Some(dx) = dx.as_deref_mut() {
                // dz: [rows, out_c] · kernelᵀ: [out_c, len] = dcols: [rows, len]
                let dcols = scratch(&mut buf.dcols, rows * len);
                gemm(Mat::new(dz, rows, out_c), Mat::new(kernel, len, out_c).t(), 0.0, dcols);
                let dx = &mut dx[i * per_tile * x_len..][..x.len()];
                dx.fill(0.0);
                col2im(&tile, dcols, dx);
            }
        }
    });
    // Add the runs' gradients in run order, so the result does not depend on timing.
    let Some(WeightGradients { dkernel, dbias }) = grads.weights else { return };
    add_weight_grads_in_order(ws.runs.iter().map(|buf| &buf.partial[..kernel.len() + out_c]), dkernel, dbias);
}
// ANCHOR_END: backward

/// `y = conv(x, kernel) + bias` through im2col + GEMM, with fresh buffers. Same arguments
/// and result as [`naive::forward`](crate::conv::naive::forward).
pub fn forward(g: &ConvGeometry, x: &[f32], kernel: &[f32], bias: &[f32], y: &mut [f32]) {
    forward_with(&mut Workspace::default(), g, x, kernel, bias, Activation::Linear, y);
}

/// The gradients through im2col + GEMM, with fresh buffers. Same arguments and result as
/// [`naive::backward`](crate::conv::naive::backward) (`dx` is overwritten, `dkernel` and `dbias`
/// are added to).
pub fn backward(
    g: &ConvGeometry,
    x: &[f32],
    kernel: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    // A linear activation never reads the output, so `dy` can stand in for it.
    let seen = ForwardPass { input: x, output: dy, activation: Activation::Linear };
    let grads = Gradients { dx: Some(dx), weights: Some(WeightGradients { dkernel, dbias }) };
    backward_with(&mut Workspace::default(), g, kernel, seen, dy, grads);
}
