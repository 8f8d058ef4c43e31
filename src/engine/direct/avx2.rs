//! The direct loops written in AVX2 and FMA instructions, for the many processors that have
//! those but not AVX-512.
//!
//! AVX2 has sixteen registers of eight `f32`. The forward pass keeps the sums of six output
//! pixels × sixteen filters in twelve of them, one kernel row of sixteen weights in two more,
//! and the input value being multiplied in the last but one: the shape of the inner kernel
//! of a matrix product tuned for these processors (6 rows × 16 columns). Each kernel row is
//! loaded once for six pixels, each input value once for sixteen filters. The kernel
//! gradient keeps six taps × sixteen filters the same way, for a whole pass over the output
//! gradient.
//!
//! Written as the generic loops of [`super::blocks`], a block this size made the compiler
//! keep too many values at once and spill sums to memory; written with the instructions
//! themselves (`std::arch`), the sums stay in registers. Every function here is compiled for
//! AVX2 and FMA (`#[target_feature]`), so Rust lets it be called only from code compiled
//! for them too: [`super`] calls in after asking the processor ([`super::Isa`]).

use std::arch::x86_64::{
    __m256, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_max_ps,
    _mm256_setzero_ps, _mm256_storeu_ps,
};

use super::{Pixel, PixelRow, Tap};
use crate::geometry::ConvGeometry;

/// `f32` per register.
const LANES: usize = 8;

/// Pixels (forward) or taps (kernel gradient) per block.
const ROWS: usize = 6;

/// Eight values of `values` from `at`, as a register.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn load(values: &[f32], at: usize) -> __m256 {
    let eight: &[f32; LANES] = values[at..at + LANES].try_into().expect("eight values");
    // SAFETY: `eight` is eight readable `f32`, and an unaligned load reads exactly those.
    unsafe { _mm256_loadu_ps(eight.as_ptr()) }
}

/// `8·R` values of `values` from `at`, as `R` registers.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn loads<const R: usize>(values: &[f32], at: usize) -> [__m256; R] {
    let mut v = [_mm256_setzero_ps(); R];
    for (r, v) in v.iter_mut().enumerate() {
        *v = load(values, at + LANES * r);
    }
    v
}

/// Writes a register to eight values of `out` from `at`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn store(out: &mut [f32], at: usize, v: __m256) {
    let eight: &mut [f32; LANES] = (&mut out[at..at + LANES]).try_into().expect("eight values");
    // SAFETY: `eight` is eight writable `f32`, and an unaligned store writes exactly those.
    unsafe { _mm256_storeu_ps(eight.as_mut_ptr(), v) }
}

/// The layout of a window that lies wholly inside the image: `k_h` runs of `run` contiguous
/// input values (a window row: `k_w` pixels × `in_c` channels), `row_step` apart in the
/// input, whose kernel rows are the `run` consecutive taps of that window row.
#[derive(Debug, Clone, Copy)]
struct Runs {
    k_h: usize,
    run: usize,
    row_step: usize,
    out_c: usize,
}

impl Runs {
    fn of(g: &ConvGeometry) -> Runs {
        let w = &g.window;
        Runs { k_h: w.k_h, run: w.k_w * g.in_c, row_step: w.in_w * g.in_c, out_c: g.out_c }
    }
}

// ANCHOR: six_pixels
/// Six pixels (their windows at `at` in `x`) × the `8·R` filters from `first`: the sums
/// start at the bias, take every tap of the window, and are stored once, through the ReLU if
/// `relu`, in the pixels' output rows `out`.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
fn six_pixels<const R: usize>(
    win: Runs,
    x: &[f32],
    kernel: KernelRows,
    bias: &[f32],
    at: [Pixel; ROWS],
    first: usize,
    relu: bool,
    y: &mut [f32],
) {
    let b: [__m256; R] = loads(bias, first);
    let mut acc = [b; ROWS];
    for kh in 0..win.k_h {
        let rows = kernel.of_window_row(kh, win.run);
        let o = kh * win.row_step;
        let (x0, x1, x2) =
            (&x[at[0].x + o..][..win.run], &x[at[1].x + o..][..win.run], &x[at[2].x + o..][..win.run]);
        let (x3, x4, x5) =
            (&x[at[3].x + o..][..win.run], &x[at[4].x + o..][..win.run], &x[at[5].x + o..][..win.run]);
        // Zipped iterators rather than indices: one counter, and no bounds check per value.
        let values = x0.iter().zip(x1).zip(x2).zip(x3).zip(x4).zip(x5);
        for (row, (((((v0, v1), v2), v3), v4), v5)) in rows.zip(values) {
            let k: [__m256; R] = loads(row, kernel.first);
            for (p, v) in [v0, v1, v2, v3, v4, v5].into_iter().enumerate() {
                let v = _mm256_broadcast_ss(v);
                for r in 0..R {
                    acc[p][r] = _mm256_fmadd_ps(v, k[r], acc[p][r]);
                }
            }
        }
    }
    for (p, sums) in at.iter().zip(acc) {
        for (r, v) in sums.into_iter().enumerate() {
            // `max(0, v)` returns `v` when `v` is NaN, so a NaN stays a NaN.
            let v = if relu { _mm256_max_ps(_mm256_setzero_ps(), v) } else { v };
            store(y, p.out + first + LANES * r, v);
        }
    }
}
// ANCHOR_END: six_pixels

/// [`six_pixels`] for one pixel.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
fn one_pixel<const R: usize>(
    win: Runs,
    x: &[f32],
    kernel: KernelRows,
    bias: &[f32],
    p: Pixel,
    first: usize,
    relu: bool,
    y: &mut [f32],
) {
    let mut acc: [__m256; R] = loads(bias, first);
    for kh in 0..win.k_h {
        let xs = &x[p.x + kh * win.row_step..][..win.run];
        for (v, row) in xs.iter().zip(kernel.of_window_row(kh, win.run)) {
            let v = _mm256_broadcast_ss(v);
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_fmadd_ps(v, load(row, kernel.first + LANES * r), *acc);
            }
        }
    }
    for (r, v) in acc.into_iter().enumerate() {
        let v = if relu { _mm256_max_ps(_mm256_setzero_ps(), v) } else { v };
        store(y, p.out + first + LANES * r, v);
    }
}

/// The kernel rows of a block of filters: the weights of tap `t` for the block start at
/// `first + t · stride` in `weights`.
#[derive(Debug, Clone, Copy)]
struct KernelRows<'a> {
    weights: &'a [f32],
    stride: usize,
    first: usize,
}

impl<'a> KernelRows<'a> {
    /// The rows of the `run` taps of window row `kh`, one `stride` long chunk per tap.
    fn of_window_row(self, kh: usize, run: usize) -> std::slice::ChunksExact<'a, f32> {
        self.weights[kh * run * self.stride..][..run * self.stride].chunks_exact(self.stride)
    }
}

/// Pixels per chunk of the forward pass: each slice of sixteen filters goes over a whole
/// chunk before the next, so the slice (taps × 64 bytes: 18 KB for conv2d_2) stays in the
/// first-level cache for 120 pixels, and the chunk's windows (about 20 KB of conv2d_2's
/// input) in the second level for every slice. A multiple of six, so that only the last
/// chunk has pixels left over.
const CHUNK_PIXELS: usize = 120;
const _: () = assert!(CHUNK_PIXELS.is_multiple_of(ROWS));

/// The outputs of the pixels `inside` (whole windows) for the filters `filters` (a multiple
/// of 8 of them), a chunk of pixels at a time: sixteen filters at a time (read from
/// `slices`, [`super::sixteen_filter_slices`]), then eight (from `kernel`); six pixels at a time.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_whole_windows(
    g: &ConvGeometry,
    x: &[f32],
    (kernel, slices): (&[f32], &[f32]),
    bias: &[f32],
    inside: &[Pixel],
    filters: usize,
    relu: bool,
    y: &mut [f32],
) {
    let win = Runs::of(g);
    let (taps, sixteens) = (win.k_h * win.run, filters / 16 * 16);
    for chunk in inside.chunks(CHUNK_PIXELS) {
        for first in (0..sixteens).step_by(16) {
            let rows = KernelRows { weights: &slices[first * taps..][..16 * taps], stride: 16, first: 0 };
            chunk_of_pixels::<2>(win, x, rows, bias, (chunk, inside), first, relu, y);
        }
        if sixteens < filters {
            let rows = KernelRows { weights: kernel, stride: win.out_c, first: sixteens };
            chunk_of_pixels::<1>(win, x, rows, bias, (chunk, inside), sixteens, relu, y);
        }
    }
}

/// The pixels of `chunk`, one of the chunks of `all`, × the `8·R` filters from `first`, six
/// pixels at a time.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
fn chunk_of_pixels<const R: usize>(
    win: Runs,
    x: &[f32],
    kernel: KernelRows,
    bias: &[f32],
    (chunk, all): (&[Pixel], &[Pixel]),
    first: usize,
    relu: bool,
    y: &mut [f32],
) {
    let mut sixes = chunk.chunks_exact(ROWS);
    for six in &mut sixes {
        let six = six.try_into().expect("six pixels");
        six_pixels::<R>(win, x, kernel, bias, six, first, relu, y);
    }
    match sixes.remainder() {
        [] => {}
        // Only the last chunk has pixels left over. The last six pixels of all run again,
        // the first few of them done already: a pixel's sums are the same whichever block
        // computes them, so those are written again with the same bits, and the rest run
        // six at a time rather than one.
        _ if all.len() >= ROWS => {
            let six = all[all.len() - ROWS..].try_into().expect("six pixels");
            six_pixels::<R>(win, x, kernel, bias, six, first, relu, y);
        }
        rest => {
            for &p in rest {
                one_pixel::<R>(win, x, kernel, bias, p, first, relu, y);
            }
        }
    }
}

// ANCHOR: taps
/// `T` consecutive taps of a window row (the first at `tap`) × a block of `8·R` filters:
/// `dkernel[tap][f] += Σ_pixels x[pixel's window at tap] · dz[pixel][f]`, the `T × 8·R` sums
/// in registers for the whole pass over the pixels. `block` is the block's output gradients,
/// `8·R` per pixel, pixel after pixel; `dkernel` is the block's first column of the kernel
/// gradient, whose rows are `out_c` apart.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn taps<const T: usize, const R: usize>(
    x: &[f32],
    block: &[f32],
    (rows, step): (&[PixelRow], usize),
    tap: Tap,
    out_c: usize,
    dkernel: &mut [f32],
) {
    let mut acc = [[_mm256_setzero_ps(); R]; T];
    let mut block = block.chunks_exact(LANES * R);
    for row in rows {
        // Along a row, the windows' values at these taps are `step` apart.
        let xs = &x[row.x + tap.x..][..(row.len - 1) * step + T];
        for (i, d) in (&mut block).take(row.len).enumerate() {
            let v: &[f32; T] = xs[i * step..i * step + T].try_into().expect("T values");
            let d: [__m256; R] = loads(d, 0);
            for t in 0..T {
                let v = _mm256_broadcast_ss(&v[t]);
                for r in 0..R {
                    acc[t][r] = _mm256_fmadd_ps(v, d[r], acc[t][r]);
                }
            }
        }
    }
    for (t, sums) in acc.into_iter().enumerate() {
        for (r, v) in sums.into_iter().enumerate() {
            let at = tap.kernel + t * out_c + LANES * r;
            store(dkernel, at, _mm256_add_ps(load(dkernel, at), v));
        }
    }
}
// ANCHOR_END: taps

/// Every tap of whole windows × the filters `filters` (a multiple of 8 of them): adds
/// `Σ_pixels x[pixel + tap] · dz[pixel][f]` to `dkernel[tap][f]`. The filters go sixteen at a
/// time (then eight), each window row's taps six at a time (then three, then one).
///
/// A block's output gradients are copied out first, pixel after pixel: in `dz` they are
/// `out_c` values apart, a stride that maps them all onto a few sets of the first-level cache,
/// where they would push each other (and the input) out; copied, they are one short run that
/// stays there while every tap goes by.
#[target_feature(enable = "avx2,fma")]
pub(super) fn kernel_gradient_whole_windows(
    g: &ConvGeometry,
    x: &[f32],
    dz: &[f32],
    pixels: (&[PixelRow], usize),
    filters: usize,
    dkernel: &mut [f32],
) {
    let win = Runs::of(g);
    let taps = (0..win.k_h).flat_map(|kh| (0..win.run).step_by(ROWS).map(move |j| (kh, j)));
    let taps = taps.map(|(kh, j)| {
        (Tap { x: kh * win.row_step + j, kernel: (kh * win.run + j) * win.out_c }, win.run - j)
    });
    let (rows, step) = pixels;
    // Rows of pixels in chunks whose input and output gradient fit in about half the
    // first-level cache (see [`CHUNK_BYTES`]).
    let row_bytes = (g.window.in_w * g.in_c * g.window.stride_h + g.window.out_w * 16) * size_of::<f32>();
    let mut block = Vec::new();
    for chunk in rows.chunks((CHUNK_BYTES / row_bytes.max(1)).max(1)) {
        let mut first = 0;
        while first < filters {
            let width = if filters - first >= 16 { 16 } else { LANES };
            if width == 16 {
                copy_block::<16>(dz, chunk, win.out_c, first, &mut block);
            } else {
                copy_block::<LANES>(dz, chunk, win.out_c, first, &mut block);
            }
            let dk = &mut dkernel[first..];
            for (tap, left) in taps.clone() {
                if width == 16 {
                    row_taps::<2>(x, &block, (chunk, step), tap, left, win.out_c, dk);
                } else {
                    row_taps::<1>(x, &block, (chunk, step), tap, left, win.out_c, dk);
                }
            }
            first += width;
        }
    }
}

/// Copies into `block` the output gradients of the `W` filters from `first` of the pixels of
/// `rows`, pixel after pixel. (`W` is known when compiled, so a pixel's copy is a few register
/// moves: a copy whose length is known only at run time is a call to `memcpy` for each pixel.)
#[target_feature(enable = "avx2,fma")]
#[inline]
fn copy_block<const W: usize>(
    dz: &[f32],
    rows: &[PixelRow],
    out_c: usize,
    first: usize,
    block: &mut Vec<f32>,
) {
    block.resize(rows.iter().map(|row| row.len).sum::<usize>() * W, 0.0);
    let mut to = block.chunks_exact_mut(W);
    for row in rows {
        for (d, to) in dz[row.out..][..row.len * out_c].chunks_exact(out_c).zip(&mut to) {
            to.copy_from_slice(&d[first..][..W]);
        }
    }
}

/// How many bytes of input and output gradient a chunk of pixels of the kernel gradient
/// reads while its taps go by: about half a core's first-level data cache (32 or 48 KiB on
/// current processors), so that they stay there, whatever the other hardware thread of the
/// core is doing. Whole passes over a 13×13 image (50 KiB) ran at two thirds of the speed
/// with both cores busy.
const CHUNK_BYTES: usize = 16 * 1024;

/// The next six taps of a window row from `tap`, or the `left` (fewer than six) that remain.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn row_taps<const R: usize>(
    x: &[f32],
    block: &[f32],
    pixels: (&[PixelRow], usize),
    tap: Tap,
    left: usize,
    out_c: usize,
    dkernel: &mut [f32],
) {
    if left >= ROWS {
        return taps::<ROWS, R>(x, block, pixels, tap, out_c, dkernel);
    }
    let mut tap = tap;
    let mut left = left;
    if left >= 3 {
        taps::<3, R>(x, block, pixels, tap, out_c, dkernel);
        (tap, left) = (Tap { x: tap.x + 3, kernel: tap.kernel + 3 * out_c }, left - 3);
    }
    for i in 0..left {
        let one = Tap { x: tap.x + i, kernel: tap.kernel + i * out_c };
        taps::<1, R>(x, block, pixels, one, out_c, dkernel);
    }
}

// ANCHOR: six_pixels_back
/// Six pixels' output gradients sent back through one window position: `dx[pixel + at][ci]
/// += Σ_f dz[pixel][f] · turned[f][ci]` for the `8·R` input channels from `first`, where
/// `turned` is the kernel at that position with its two channel axes swapped.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
fn six_pixels_back<const R: usize>(
    dz: &[f32],
    turned: &[f32],
    (in_c, out_c): (usize, usize),
    six: [Pixel; ROWS],
    at: usize,
    first: usize,
    dx: &mut [f32],
) {
    let mut acc = [[_mm256_setzero_ps(); R]; ROWS];
    let (d0, d1, d2) = (&dz[six[0].out..][..out_c], &dz[six[1].out..][..out_c], &dz[six[2].out..][..out_c]);
    let (d3, d4, d5) = (&dz[six[3].out..][..out_c], &dz[six[4].out..][..out_c], &dz[six[5].out..][..out_c]);
    let values = d0.iter().zip(d1).zip(d2).zip(d3).zip(d4).zip(d5);
    for (row, (((((v0, v1), v2), v3), v4), v5)) in turned.chunks_exact(in_c).zip(values) {
        let k: [__m256; R] = loads(row, first);
        for (p, v) in [v0, v1, v2, v3, v4, v5].into_iter().enumerate() {
            let v = _mm256_broadcast_ss(v);
            for r in 0..R {
                acc[p][r] = _mm256_fmadd_ps(v, k[r], acc[p][r]);
            }
        }
    }
    for (p, sums) in six.iter().zip(acc) {
        for (r, v) in sums.into_iter().enumerate() {
            let i = p.x + at + first + LANES * r;
            store(dx, i, _mm256_add_ps(load(dx, i), v));
        }
    }
}
// ANCHOR_END: six_pixels_back

/// [`six_pixels_back`] for one pixel.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn one_pixel_back<const R: usize>(
    dz: &[f32],
    turned: &[f32],
    (in_c, out_c): (usize, usize),
    p: Pixel,
    at: usize,
    first: usize,
    dx: &mut [f32],
) {
    let mut acc = [_mm256_setzero_ps(); R];
    for (v, row) in dz[p.out..][..out_c].iter().zip(turned.chunks_exact(in_c)) {
        let v = _mm256_broadcast_ss(v);
        for (r, acc) in acc.iter_mut().enumerate() {
            *acc = _mm256_fmadd_ps(v, load(row, first + LANES * r), *acc);
        }
    }
    for (r, v) in acc.into_iter().enumerate() {
        let i = p.x + at + first + LANES * r;
        store(dx, i, _mm256_add_ps(load(dx, i), v));
    }
}

/// Adds to `dx` what the `pixels` (whole windows) send back through the kernel, for the input
/// channels `channels` (a multiple of 8 of them): six pixels at a time (then one), window
/// position by window position, sixteen channels at a time (then eight).
#[target_feature(enable = "avx2,fma")]
pub(super) fn input_gradient_whole_windows(
    g: &ConvGeometry,
    kernel: &[f32],
    dz: &[f32],
    pixels: &[Pixel],
    channels: usize,
    dx: &mut [f32],
) {
    let (w, in_c, out_c) = (&g.window, g.in_c, g.out_c);
    // The kernel turned: at each window position, the weights of every filter for a block of
    // input channels are consecutive.
    let mut turned = vec![0.0; w.k_h * w.k_w * out_c * in_c];
    for (position, block) in turned.chunks_exact_mut(out_c * in_c).enumerate() {
        for (f, row) in block.chunks_exact_mut(in_c).enumerate() {
            for (ci, v) in row.iter_mut().enumerate() {
                *v = kernel[(position * in_c + ci) * out_c + f];
            }
        }
    }
    let positions: Vec<(usize, &[f32])> = turned
        .chunks_exact(out_c * in_c)
        .enumerate()
        .map(|(position, t)| (((position / w.k_w) * w.in_w + position % w.k_w) * in_c, t))
        .collect();
    let (sixteens, sizes) = (channels / 16 * 16, (in_c, out_c));
    let mut sixes = pixels.chunks_exact(ROWS);
    for six in &mut sixes {
        let six: [Pixel; ROWS] = six.try_into().expect("six pixels");
        for &(at, turned) in &positions {
            for first in (0..sixteens).step_by(16) {
                six_pixels_back::<2>(dz, turned, sizes, six, at, first, dx);
            }
            if sixteens < channels {
                six_pixels_back::<1>(dz, turned, sizes, six, at, sixteens, dx);
            }
        }
    }
    for &p in sixes.remainder() {
        for &(at, turned) in &positions {
            for first in (0..sixteens).step_by(16) {
                one_pixel_back::<2>(dz, turned, sizes, p, at, first, dx);
            }
            if sixteens < channels {
                one_pixel_back::<1>(dz, turned, sizes, p, at, sixteens, dx);
            }
        }
    }
}
