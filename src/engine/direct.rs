//! Direct convolution: the naive loops reordered so that the sums of a few output pixels ×
//! a block of filters stay in registers.
//!
//! im2col + GEMM makes the convolution one large product, but pays for it in copies: every
//! input value is copied into up to `k_h·k_w` patch rows, and the product copies (packs) the
//! patches once more. Here there is no patch matrix. Four output pixels at a time, the loop
//! walks the window's taps; each tap loads one kernel row of up to 64 filters and multiplies
//! it into the sums of all four pixels (4 × 64 sums: sixteen AVX-512 registers), and each
//! sum is stored once, through the ReLU, at the end. That is the register blocking a GEMM's
//! inner kernel does, with the patches read straight from the image. Measured on the book's
//! three layers it beats im2col on each (see the im2col chapter), so
//! [`ConvAlgorithm::Auto`](super::ConvAlgorithm::Auto) uses it whenever the filters fill
//! whole blocks (or the window is short).
//!
//! The kernel gradient is done the same way round ([`kernel_gradient`]): a block of kernel
//! weights' sums stays in registers for a whole pass over an image's output gradient. The
//! input gradient is not done here: it is im2col's `dz · kernelᵀ` followed by col2im, which
//! needs no patch matrix either.

use std::ops::Range;

use rayon::prelude::*;

use super::runs::{add_weight_grads_in_order, samples_per_run};
use crate::activation::Activation;
use crate::geometry::ConvGeometry;

/// Filters per block where one pixel (or one kernel weight, in the kernel gradient) is summed
/// at a time: 32 `f32` sums, two AVX-512 registers or four AVX2 ones. Each register is a
/// separate chain of additions, so the processor works on one while another waits for its
/// last addition (blocks of 16, one chain, took 1.7 times as long).
pub const LANES: usize = 32;

/// Whether the build's processor has AVX-512: 32 vector registers of 16 `f32`. The blocks of
/// four pixels × 64 filters (sixteen registers of sums) are sized for it. With AVX2's sixteen
/// registers of 8 they do not fit, and the sums spill to memory: built for AVX2
/// (`-C target-cpu=haswell`) and run on the same machine, an epoch took 12.5 s with them
/// against 8.8 s with im2col. So without AVX-512 the pixels go one at a time, the kernel
/// gradient's blocks are 32 filters wide, and [`ConvAlgorithm::Auto`](super::ConvAlgorithm::Auto)
/// keeps the direct loops for short windows only.
pub const WIDE_REGISTERS: bool = cfg!(target_feature = "avx512f");

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
        (0..N).for_each(|c| acc[c] = mul_add(v, k[c], acc[c]));
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
        store(acc, relu, out);
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
    // one list of taps; they go four at a time. A window over the padding gets its own list.
    let (mut whole, mut partial) = (Vec::with_capacity(g.patch_len()), Vec::with_capacity(g.patch_len()));
    window_taps(g, 0..w.k_h, 0..w.k_w, &mut whole);
    let mut inside = Vec::with_capacity(g.sample_rows());
    for (pixel, y_row) in y.chunks_exact_mut(out_c).take(g.sample_rows()).enumerate() {
        let ((rows, ih), (cols, iw)) =
            (w.kernel_rows_inside(pixel / w.out_w), w.kernel_cols_inside(pixel % w.out_w));
        let at = (ih * w.in_w + iw) * g.in_c;
        if rows.len() == w.k_h && cols.len() == w.k_w {
            inside.push(Pixel { x: at, out: pixel * out_c });
            continue;
        }
        window_taps(g, rows, cols, &mut partial);
        one_pixel(&x[at..], kernel, bias, &partial, relu, y_row);
    }
    // Four pixels at a time where the registers hold their sums (see `WIDE_REGISTERS`).
    let grouped = if WIDE_REGISTERS { inside.len() / 4 * 4 } else { 0 };
    for four in inside[..grouped].chunks_exact(4) {
        let four = [four[0], four[1], four[2], four[3]];
        // Blocks of 64 filters (16 AVX-512 registers of sums), then 32, 8, 1.
        let (wide, lanes, eights) = (out_c / 64 * 64, out_c / 32 * 32, out_c / 8 * 8);
        for first in (0..wide).step_by(64) {
            four_pixels::<64>(x, kernel, bias, &whole, four, first, relu, y);
        }
        for first in (wide..lanes).step_by(32) {
            four_pixels::<32>(x, kernel, bias, &whole, four, first, relu, y);
        }
        for first in (lanes..eights).step_by(8) {
            four_pixels::<8>(x, kernel, bias, &whole, four, first, relu, y);
        }
        for first in eights..out_c {
            four_pixels::<1>(x, kernel, bias, &whole, four, first, relu, y);
        }
    }
    // The last few pixels, one at a time.
    for p in &inside[grouped..] {
        one_pixel(&x[p.x..], kernel, bias, &whole, relu, &mut y[p.out..][..out_c]);
    }
    if !relu {
        for y_row in y.chunks_exact_mut(out_c).take(g.sample_rows()) {
            activation.apply(y_row, out_c);
        }
    }
}
// ANCHOR_END: forward_image

/// One pixel's outputs, in blocks of 64 filters, then 32, 8 and 1.
fn one_pixel(x: &[f32], kernel: &[f32], bias: &[f32], taps: &[Tap], relu: bool, y_row: &mut [f32]) {
    let out_c = y_row.len();
    let rest = sum_blocks::<64>(x, kernel, bias, taps, relu, 0, y_row);
    let rest = sum_blocks::<32>(x, kernel, bias, taps, relu, out_c - rest.len(), rest);
    let rest = sum_blocks::<8>(x, kernel, bias, taps, relu, out_c - rest.len(), rest);
    sum_blocks::<1>(x, kernel, bias, taps, relu, out_c - rest.len(), rest);
}

/// Writes a block of sums to `out`, through a ReLU if `relu`: applied while the sums are still
/// in registers (`v < 0.0`, so that a NaN stays a NaN).
#[inline(always)]
fn store<const N: usize>(mut acc: [f32; N], relu: bool, out: &mut [f32]) {
    if relu {
        acc = acc.map(|v| if v < 0.0 { 0.0 } else { v });
    }
    out.copy_from_slice(&acc);
}

// ANCHOR: four_pixels
/// Four pixels × the `N` filters from `first`, with their 4 × `N` sums in registers: each
/// kernel row of `N` weights is loaded once for four pixels.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn four_pixels<const N: usize>(
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    taps: &[Tap],
    at: [Pixel; 4],
    first: usize,
    relu: bool,
    y: &mut [f32],
) {
    let b: [f32; N] = bias[first..][..N].try_into().expect("a slice of N values");
    let (mut a0, mut a1, mut a2, mut a3) = (b, b, b, b);
    let (x0, x1, x2, x3) = (&x[at[0].x..], &x[at[1].x..], &x[at[2].x..], &x[at[3].x..]);
    for tap in taps {
        let k: &[f32; N] = kernel[tap.kernel + first..][..N].try_into().expect("a slice of N values");
        let (v0, v1, v2, v3) = (x0[tap.x], x1[tap.x], x2[tap.x], x3[tap.x]);
        for f in 0..N {
            a0[f] = mul_add(v0, k[f], a0[f]);
            a1[f] = mul_add(v1, k[f], a1[f]);
            a2[f] = mul_add(v2, k[f], a2[f]);
            a3[f] = mul_add(v3, k[f], a3[f]);
        }
    }
    store(a0, relu, &mut y[at[0].out + first..][..N]);
    store(a1, relu, &mut y[at[1].out + first..][..N]);
    store(a2, relu, &mut y[at[2].out + first..][..N]);
    store(a3, relu, &mut y[at[3].out + first..][..N]);
}
// ANCHOR_END: four_pixels

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

/// `a · b + c`, as one fused multiply-add instruction where the processor has one (the
/// build targets the machine it runs on, see `.cargo/config.toml`), and as a multiply and an
/// add otherwise: without the instruction, `f32::mul_add` is a slow library call.
#[inline(always)]
fn mul_add(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_feature = "fma") { a.mul_add(b, c) } else { a * b + c }
}

/// An output pixel: where its window starts in the input, and where its row of outputs (or
/// of output gradients) is.
#[derive(Debug, Clone, Copy)]
struct Pixel {
    x: usize,
    out: usize,
}

/// `dkernel[tap][f] += Σ_pixels x[pixel + tap] · dz[pixel][f]` for three taps and the `N`
/// filters from `first`. The 3 × `N` sums stay in registers for the whole pass over
/// `pixels`: each pixel costs `3 · N` multiply-adds and no stores. Three taps, because each
/// register's sum waits for its last addition: three (times `N / 16`) independent sums keep
/// the processor busy where one would leave it waiting. (They are three named arrays rather
/// than an array of arrays: the compiler keeps those in registers, and it does not for a
/// nested array.)
#[inline(always)]
fn accumulate3<const N: usize>(
    x: &[f32],
    dz: &[f32],
    pixels: &[Pixel],
    taps: [Tap; 3],
    first: usize,
    dkernel: &mut [f32],
) {
    let (mut a0, mut a1, mut a2) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
    for p in pixels {
        let d: &[f32; N] = dz[p.out + first..][..N].try_into().expect("a slice of N values");
        let (v0, v1, v2) = (x[p.x + taps[0].x], x[p.x + taps[1].x], x[p.x + taps[2].x]);
        for f in 0..N {
            a0[f] = mul_add(v0, d[f], a0[f]);
            a1[f] = mul_add(v1, d[f], a1[f]);
            a2[f] = mul_add(v2, d[f], a2[f]);
        }
    }
    for (acc, tap) in [a0, a1, a2].iter().zip(taps) {
        let dk = &mut dkernel[tap.kernel + first..][..N];
        dk.iter_mut().zip(acc).for_each(|(k, a)| *k += a);
    }
}

/// [`accumulate3`] for one tap (the last one or two of a window whose length is not a
/// multiple of three).
#[inline(always)]
fn accumulate1<const N: usize>(
    x: &[f32],
    dz: &[f32],
    pixels: &[Pixel],
    tap: Tap,
    first: usize,
    dkernel: &mut [f32],
) {
    let mut acc = [0.0f32; N];
    for p in pixels {
        let d: &[f32; N] = dz[p.out + first..][..N].try_into().expect("a slice of N values");
        let v = x[p.x + tap.x];
        (0..N).for_each(|f| acc[f] = mul_add(v, d[f], acc[f]));
    }
    let dk = &mut dkernel[tap.kernel + first..][..N];
    dk.iter_mut().zip(acc).for_each(|(k, a)| *k += a);
}

/// Every tap × every filter of the kernel gradient: taps three at a time, filters in blocks
/// of 64, then 32, 8 and 1 (64 × 3 sums: twelve AVX-512 registers).
fn accumulate_all(g: &ConvGeometry, x: &[f32], dz: &[f32], pixels: &[Pixel], taps: &[Tap], dk: &mut [f32]) {
    #[inline(always)]
    fn block<const N: usize>(
        x: &[f32],
        dz: &[f32],
        pixels: &[Pixel],
        taps: &[Tap],
        first: usize,
        dk: &mut [f32],
    ) {
        let mut threes = taps.chunks_exact(3);
        for three in &mut threes {
            accumulate3::<N>(x, dz, pixels, [three[0], three[1], three[2]], first, dk);
        }
        for &tap in threes.remainder() {
            accumulate1::<N>(x, dz, pixels, tap, first, dk);
        }
    }
    // 3 × 64 sums fill twelve AVX-512 registers, but would not fit in AVX2's sixteen.
    let wide = if WIDE_REGISTERS { g.out_c / 64 * 64 } else { 0 };
    let (lanes, eights) = (g.out_c / 32 * 32, g.out_c / 8 * 8);
    for first in (0..wide).step_by(64) {
        block::<64>(x, dz, pixels, taps, first, dk);
    }
    for first in (wide..lanes).step_by(32) {
        block::<32>(x, dz, pixels, taps, first, dk);
    }
    for first in (lanes..eights).step_by(8) {
        block::<8>(x, dz, pixels, taps, first, dk);
    }
    for first in eights..g.out_c {
        block::<1>(x, dz, pixels, taps, first, dk);
    }
}

// ANCHOR: kernel_gradient_images
/// Adds the kernel and bias gradients of the geometry's `g.batch` images to `dkernel` and
/// `dbias`, given `dz`, the gradient of their outputs *before* the activation.
///
/// These are the sums of im2col's `colsᵀ · dz`, `dkernel[tap][f] = Σ_pixels x[pixel's window
/// at tap] · dz[pixel][f]`, taken three kernel weights × up to 64 filters at a time with the
/// sums held in registers for a whole pass over the images' pixels, and the window values
/// read straight from the images: no patch matrix.
pub fn kernel_gradient_images(
    g: &ConvGeometry,
    x: &[f32],
    dz: &[f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    let (w, out_c) = (&g.window, g.out_c);
    let (x_len, y_len) = (g.sample_input_len(), g.sample_output_len());
    for row in dz[..g.batch * y_len].chunks_exact(out_c) {
        dbias.iter_mut().zip(row).for_each(|(b, d)| *b += d);
    }
    // Windows wholly inside the image share one list of taps and go through the registers;
    // the few over the padding add their products one by one.
    let (mut whole, mut partial) = (Vec::with_capacity(g.patch_len()), Vec::with_capacity(g.patch_len()));
    window_taps(g, 0..w.k_h, 0..w.k_w, &mut whole);
    let mut pixels = Vec::with_capacity(g.patch_rows());
    for (image, pixel) in (0..g.batch).flat_map(|image| (0..g.sample_rows()).map(move |p| (image, p))) {
        let ((rows, ih), (cols, iw)) =
            (w.kernel_rows_inside(pixel / w.out_w), w.kernel_cols_inside(pixel % w.out_w));
        let at = Pixel { x: image * x_len + (ih * w.in_w + iw) * g.in_c, out: image * y_len + pixel * out_c };
        if rows.len() == w.k_h && cols.len() == w.k_w {
            pixels.push(at);
            continue;
        }
        window_taps(g, rows, cols, &mut partial);
        let d = &dz[at.out..][..out_c];
        for tap in &partial {
            let v = x[at.x + tap.x];
            let dk = &mut dkernel[tap.kernel..][..out_c];
            dk.iter_mut().zip(d).for_each(|(k, d)| *k += v * d);
        }
    }
    accumulate_all(g, x, dz, &pixels, &whole, dkernel);
}
// ANCHOR_END: kernel_gradient_images

/// Bytes of output gradient per pass of [`kernel_gradient_images`]: about a core's L1 data
/// cache, so that the passes after the first over the same images read it from there. A
/// large image makes a pass on its own; small ones (the book's third layer: 3×3 pixels) are
/// grouped, so that each pass is long enough to pay for loading and storing its sums.
const PASS_BYTES: usize = 32 * 1024;

/// Images per pass of [`kernel_gradient_images`] (see [`PASS_BYTES`]).
pub(crate) fn images_per_pass(g: &ConvGeometry) -> usize {
    (PASS_BYTES / (g.sample_output_len() * size_of::<f32>()).max(1)).max(1)
}

/// Adds the kernel and bias gradients of a whole batch to `dkernel` and `dbias`, given `dz`
/// before the activation (see [`kernel_gradient_images`]).
///
/// The images are cut into one run per thread; each run sums its own gradients, and the
/// runs' sums are added in run order, so a given thread count always gives the same bits.
pub fn kernel_gradient(g: &ConvGeometry, x: &[f32], dz: &[f32], dkernel: &mut [f32], dbias: &mut [f32]) {
    let (x_len, y_len) = (g.sample_input_len(), g.sample_output_len());
    if x_len == 0 || y_len == 0 || g.batch == 0 {
        return;
    }
    let (per_run, per_pass) = (samples_per_run(g.batch), images_per_pass(g));
    let runs: Vec<Vec<f32>> = x[..g.batch * x_len]
        .par_chunks(per_run * x_len)
        .zip(dz.par_chunks(per_run * y_len))
        .map(|(x, dz)| {
            let mut sums = vec![0.0; dkernel.len() + dbias.len()];
            let (dk, db) = sums.split_at_mut(dkernel.len());
            for (x, dz) in x.chunks(per_pass * x_len).zip(dz.chunks(per_pass * y_len)) {
                kernel_gradient_images(&g.with_batch(x.len() / x_len), x, dz, dk, db);
            }
            sums
        })
        .collect();
    add_weight_grads_in_order(runs.iter().map(Vec::as_slice), dkernel, dbias);
}
