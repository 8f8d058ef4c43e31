//! Direct convolution: the naive loops reordered so that the filters are the innermost loop,
//! sixteen at a time, with their sums held in registers.
//!
//! im2col + GEMM pays off when each output value is a long dot product: 288 multiply-adds
//! in the book's second layer. In a first layer over grey images it is only 9 (a 3×3
//! window of one channel), and the GEMM then spends its time copying patches and writing
//! results, not multiplying. Here each output pixel reads its window once per block of
//! [`LANES`] filters, multiplies each input value into the block's sums, and stores them
//! once: no patch matrix at all. (Measured on the book's first layer, one thread: about 5×
//! faster than im2col + GEMM; on the second and third layers it is the other way round,
//! so [`ConvAlgorithm::Auto`](super::ConvAlgorithm::Auto) uses this only for short
//! patches.)
//!
//! The functions here work on one image; [`forward`] and [`backward`] loop over a batch.

use std::ops::Range;

use rayon::prelude::*;

use super::ConvGeometry;
use crate::activation::Activation;

/// Filters per block: 32 `f32` sums, two AVX-512 registers or four AVX2 ones. Each
/// register is a separate chain of additions, so they overlap in the CPU instead of each
/// waiting for the last (one register's chain is slower by half).
pub const LANES: usize = 32;

/// One multiply-add of a window: where its input value is (relative to the window) and
/// where its kernel row for filter 0 is.
#[derive(Debug, Clone, Copy)]
struct Tap {
    x: usize,
    kernel: usize,
}

/// The taps of a window whose rows `rows` and columns `cols` fall inside the image (the
/// padding adds nothing), written into `taps`.
fn window_taps(g: &ConvGeometry, rows: Range<usize>, cols: Range<usize>, taps: &mut Vec<Tap>) {
    let (w, in_c, out_c) = (&g.window, g.in_c, g.out_c);
    taps.clear();
    for (i, kh) in rows.enumerate() {
        for (j, kw) in cols.clone().enumerate() {
            for ci in 0..in_c {
                let x = (i * w.in_w + j) * in_c + ci;
                taps.push(Tap { x, kernel: ((kh * w.k_w + kw) * in_c + ci) * out_c });
            }
        }
    }
}

/// `acc += Σ x · kernel` over a window's taps for the block of `N` filters starting at
/// `first`. `N` is a constant, so that the innermost loop has a fixed length and compiles
/// to a few SIMD multiply-adds whose sums stay in registers.
#[inline(always)]
fn window_sum<const N: usize>(x: &[f32], kernel: &[f32], taps: &[Tap], first: usize, acc: &mut [f32; N]) {
    for tap in taps {
        let v = x[tap.x];
        let k: &[f32; N] = kernel[tap.kernel + first..][..N].try_into().expect("a slice of N values");
        (0..N).for_each(|c| acc[c] += v * k[c]);
    }
}

/// Fills `out`, the outputs of filters `first..` at one pixel, in blocks of `N` filters,
/// and returns the part too short for a whole block.
#[inline(always)]
fn sum_blocks<'a, const N: usize>(
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    taps: &[Tap],
    relu: bool,
    first: usize,
    out: &'a mut [f32],
) -> &'a mut [f32] {
    let mut blocks = out.chunks_exact_mut(N);
    for (block, out) in (&mut blocks).enumerate() {
        let first = first + block * N;
        let mut acc: [f32; N] = bias[first..first + N].try_into().expect("a slice of N values");
        window_sum(x, kernel, taps, first, &mut acc);
        if relu {
            // Applied while the sums are still in registers.
            acc = acc.map(|v| if v < 0.0 { 0.0 } else { v });
        }
        out.copy_from_slice(&acc);
    }
    blocks.into_remainder()
}

// ANCHOR: forward_image
/// `y = activation(conv(x, kernel) + bias)` for **one image** (the geometry's batch size is
/// ignored): `x` is `(in_h, in_w, in_c)`, `y` is `(out_h, out_w, out_c)`.
pub fn forward_image(
    g: &ConvGeometry,
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    activation: Activation,
    y: &mut [f32],
) {
    let (w, out_c) = (&g.window, g.out_c);
    // Most windows lie wholly inside the image (all of them with `valid` padding) and share
    // one list of taps; a window over the padding gets its own.
    let (mut whole, mut partial) = (Vec::with_capacity(g.patch_len()), Vec::with_capacity(g.patch_len()));
    window_taps(g, 0..w.k_h, 0..w.k_w, &mut whole);
    for (pixel, y_row) in y.chunks_exact_mut(out_c).take(g.sample_rows()).enumerate() {
        let ((rows, ih), (cols, iw)) =
            (w.kernel_rows_inside(pixel / w.out_w), w.kernel_cols_inside(pixel % w.out_w));
        let taps = if rows.len() == w.k_h && cols.len() == w.k_w {
            &whole
        } else {
            window_taps(g, rows, cols, &mut partial);
            &partial
        };
        let x = &x[(ih * w.in_w + iw) * g.in_c..];
        // Whole blocks of filters, then the rest eight at a time, then one at a time.
        let relu = activation == Activation::Relu;
        let rest = sum_blocks::<LANES>(x, kernel, bias, taps, relu, 0, y_row);
        let rest = sum_blocks::<8>(x, kernel, bias, taps, relu, out_c - rest.len(), rest);
        sum_blocks::<1>(x, kernel, bias, taps, relu, out_c - rest.len(), rest);
        if !relu {
            activation.apply(y_row, out_c);
        }
    }
}
// ANCHOR_END: forward_image

// ANCHOR: backward_image
/// The gradients of [`forward_image`] for one image, given `dz`, the gradient *before* the
/// activation: adds `∂loss/∂kernel` into `dkernel`, `∂loss/∂bias` into `dbias`, and, if
/// wanted, `∂loss/∂x` into `dx`. `cols` is scratch space for the image's patch matrix.
///
/// The kernel gradient is `colsᵀ · dz`, as in [`im2col`](super::im2col), but summed with
/// blocks of the result held in registers ([`accumulate`]): for a short patch row that is
/// faster than a general matrix product. Each input pixel's gradient gathers `kernel · dz`
/// over the windows that saw it, as in [`naive::backward`](super::naive::backward).
#[allow(clippy::too_many_arguments)]
pub fn backward_image(
    g: &ConvGeometry,
    x: &[f32],
    kernel: &[f32],
    dz: &[f32],
    dx: Option<&mut [f32]>,
    dkernel: &mut [f32],
    dbias: &mut [f32],
    cols: &mut Vec<f32>,
) {
    let (len, out_c, rows) = (g.patch_len(), g.out_c, g.sample_rows());
    let dz = &dz[..rows * out_c];
    for row in dz.chunks_exact(out_c) {
        dbias.iter_mut().zip(row).for_each(|(b, d)| *b += d);
    }
    cols.resize(rows * len, 0.0);
    super::im2col::im2col(&ConvGeometry { batch: 1, ..*g }, x, cols);
    // Blocks of TAPS patch columns × LANES filters, then what is left over in narrower ones.
    const TAPS: usize = 3;
    let (whole_taps, whole_filters) = (len / TAPS * TAPS, out_c / LANES * LANES);
    for first in (0..whole_filters).step_by(LANES) {
        for tap in (0..whole_taps).step_by(TAPS) {
            accumulate::<TAPS, LANES>(cols, dz, len, out_c, tap, first, dkernel);
        }
        for tap in whole_taps..len {
            accumulate::<1, LANES>(cols, dz, len, out_c, tap, first, dkernel);
        }
    }
    for first in whole_filters..out_c {
        for tap in 0..len {
            accumulate::<1, 1>(cols, dz, len, out_c, tap, first, dkernel);
        }
    }
    let Some(dx) = dx else { return };
    let w = &g.window;
    for (pixel, dz_row) in dz.chunks_exact(out_c).enumerate() {
        let ((rows, ih), (cols, iw)) =
            (w.kernel_rows_inside(pixel / w.out_w), w.kernel_cols_inside(pixel % w.out_w));
        for (i, kh) in rows.enumerate() {
            for (j, kw) in cols.clone().enumerate() {
                for ci in 0..g.in_c {
                    let k = &kernel[((kh * w.k_w + kw) * g.in_c + ci) * out_c..][..out_c];
                    let at = ((ih + i) * w.in_w + iw + j) * g.in_c + ci;
                    dx[at] += k.iter().zip(dz_row).map(|(k, d)| k * d).sum::<f32>();
                }
            }
        }
    }
}
// ANCHOR_END: backward_image

/// `dkernel[t][f] += Σ_p cols[p][t] · dz[p][f]` for the `T` patch columns from `tap` and the
/// `N` filters from `first`, over every row `p`. The `T × N` sums stay in registers for the
/// whole pass (`T` and `N` are constants), so each row costs `T · N` multiply-adds and no
/// stores.
#[inline(always)]
fn accumulate<const T: usize, const N: usize>(
    cols: &[f32],
    dz: &[f32],
    len: usize,
    out_c: usize,
    tap: usize,
    first: usize,
    dkernel: &mut [f32],
) {
    let mut acc = [[0.0f32; N]; T];
    for (patch, d) in cols.chunks_exact(len).zip(dz.chunks_exact(out_c)) {
        let d: &[f32; N] = d[first..first + N].try_into().expect("a slice of N values");
        let c: &[f32; T] = patch[tap..tap + T].try_into().expect("a slice of T values");
        for t in 0..T {
            (0..N).for_each(|f| acc[t][f] += c[t] * d[f]);
        }
    }
    for (t, acc) in acc.iter().enumerate() {
        let dk = &mut dkernel[(tap + t) * out_c + first..][..N];
        dk.iter_mut().zip(acc).for_each(|(k, a)| *k += a);
    }
}

/// `y = activation(conv(x, kernel) + bias)` for a whole batch, the images shared among the
/// threads.
pub fn forward(
    g: &ConvGeometry,
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    activation: Activation,
    y: &mut [f32],
) {
    let (x_len, y_len) = (g.sample_input_len(), g.sample_output_len());
    if x_len == 0 || y_len == 0 {
        return;
    }
    let images = x.par_chunks(x_len).zip(y.par_chunks_mut(y_len)).take(g.batch);
    images.for_each(|(x, y)| forward_image(g, x, kernel, bias, activation, y));
}

/// The gradients of [`forward`] for a whole batch, given `dz` before the activation. Same
/// arguments and result as [`naive::backward`](super::naive::backward), except that `dx`
/// is optional: `dx` is *added* to, and so are `dkernel` and `dbias`.
///
/// Images are shared among the threads; each thread's kernel and bias gradients are added
/// up in a fixed order, so a given thread count always gives the same bits.
pub fn backward(
    g: &ConvGeometry,
    x: &[f32],
    kernel: &[f32],
    dz: &[f32],
    dx: Option<&mut [f32]>,
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    let (x_len, y_len) = (g.sample_input_len(), g.sample_output_len());
    if x_len == 0 || y_len == 0 || g.batch == 0 {
        return;
    }
    let per_run = g.batch.div_ceil(rayon::current_num_threads().max(1));
    let dx_runs: Vec<Option<&mut [f32]>> = match dx {
        Some(dx) => dx.chunks_mut(per_run * x_len).map(Some).collect(),
        None => (0..g.batch.div_ceil(per_run)).map(|_| None).collect(),
    };
    let runs = x.chunks(per_run * x_len).zip(dz.chunks(per_run * y_len)).zip(dx_runs);
    let partials: Vec<Vec<f32>> = runs
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|((x, dz), mut dx)| {
            let mut partial = vec![0.0; dkernel.len() + dbias.len()];
            let (dk, db) = partial.split_at_mut(dkernel.len());
            let mut cols = Vec::new();
            for (i, (x, dz)) in x.chunks(x_len).zip(dz.chunks(y_len)).enumerate() {
                let dx = dx.as_deref_mut().map(|dx| &mut dx[i * x_len..][..x_len]);
                backward_image(g, x, kernel, dz, dx, dk, db, &mut cols);
            }
            partial
        })
        .collect();
    for partial in partials {
        let (dk, db) = partial.split_at(dkernel.len());
        dkernel.iter_mut().zip(dk).for_each(|(a, b)| *a += b);
        dbias.iter_mut().zip(db).for_each(|(a, b)| *a += b);
    }
}
