//! Direct convolution: the naive loops reordered so that the filters are the innermost loop,
//! [`LANES`] at a time, with their sums held in registers.
//!
//! im2col + GEMM pays off when each output value is a long dot product: 288 multiply-adds
//! in the book's second layer. In a first layer over grey images it is only 9 (a 3×3
//! window of one channel), and the GEMM then spends its time copying patches and writing
//! results, not multiplying. Here each output pixel reads its window once per block of
//! [`LANES`] filters, multiplies each input value into the block's sums, and stores them
//! once: no patch matrix at all. On the book's second and third layers it is the other way
//! round, so [`ConvAlgorithm::Auto`](super::ConvAlgorithm::Auto) uses this only for short
//! windows (measured in the im2col chapter).
//!
//! Only the forward pass is done here. The gradients stay with im2col: the kernel gradient
//! `colsᵀ · dz` sums over every output position of the batch, a long inner dimension that a
//! GEMM handles well however short the window is.

use std::ops::Range;

use rayon::prelude::*;

use super::ConvGeometry;
use crate::activation::Activation;

/// Filters per block: 32 `f32` sums, two AVX-512 registers or four AVX2 ones. Each
/// register is a separate chain of additions, so the processor works on one while another
/// waits for its last addition (blocks of 16, one chain, took 1.7 times as long).
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
    let relu = activation == Activation::Relu;
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
        let rest = sum_blocks::<LANES>(x, kernel, bias, taps, relu, 0, y_row);
        let rest = sum_blocks::<8>(x, kernel, bias, taps, relu, out_c - rest.len(), rest);
        sum_blocks::<1>(x, kernel, bias, taps, relu, out_c - rest.len(), rest);
        if !relu {
            activation.apply(y_row, out_c);
        }
    }
}
// ANCHOR_END: forward_image

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
