//! The register blocks of the direct loops, sized for each kind of processor.
//!
//! A block keeps the sums of a few output pixels × a few filters (or, for the kernel
//! gradient, of a few kernel weights × a few filters) in vector registers for a whole window
//! (or a whole pass over the output gradient), and stores each sum once at the end. How many
//! fit depends on the registers: AVX-512 has 32 of 16 `f32`, AVX2 16 of 8, SSE2 and NEON
//! 16 or 32 of 4. Too many sums and the compiler spills them to memory, which costs more than
//! blocking saves; so each [`Blocking`] picks the shapes its registers hold.

use super::{Pixel, Tap};

/// Whether a set of instructions has fused multiply-adds: all the loops for single pixels,
/// single filters and windows over the padding need to know.
pub(super) trait MulAdd {
    /// Whether the processor has fused multiply-add instructions.
    const FMA: bool;
}

/// How the generic loops are blocked for one set of vector instructions. (AVX2 has its own
/// loops, written in its instructions: [`super::avx2`].)
pub(super) trait Blocking: MulAdd {
    /// Computes the outputs of the pixels `inside` (whole windows, all sharing `taps`) that
    /// fill whole blocks, and returns how many pixels that was; the caller does the rest one
    /// pixel at a time.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        x: &[f32],
        kernel: &[f32],
        bias: &[f32],
        taps: &[Tap],
        inside: &[Pixel],
        out_c: usize,
        relu: bool,
        y: &mut [f32],
    ) -> usize;

    /// `dkernel[tap][f] += Σ_pixels x[pixel + tap] · dz[pixel][f]` for every tap and filter.
    fn kernel_gradient(x: &[f32], dz: &[f32], pixels: &[Pixel], taps: &[Tap], out_c: usize, dk: &mut [f32]);
}

/// AVX-512: four pixels × 64 filters of sums (sixteen registers), and for the kernel
/// gradient three taps × 64 filters (twelve).
#[cfg(target_arch = "x86_64")]
pub(super) struct Wide;

/// AVX2 with FMA: its blocks are in [`super::avx2`]; here it only has the fused multiply-add
/// for the single pixels and filters around them.
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx2;

/// Any processor: four pixels × 8 filters (eight SSE2 or NEON registers of 4), and three taps
/// × 8 filters, without fused multiply-adds (without the instruction, `f32::mul_add` is a
/// slow library call).
pub(super) struct Portable;

#[cfg(target_arch = "x86_64")]
impl MulAdd for Wide {
    const FMA: bool = true;
}

#[cfg(target_arch = "x86_64")]
impl MulAdd for Avx2 {
    const FMA: bool = true;
}

impl MulAdd for Portable {
    const FMA: bool = false;
}

#[cfg(target_arch = "x86_64")]
impl Blocking for Wide {
    #[inline(always)]
    fn forward(
        x: &[f32],
        kernel: &[f32],
        bias: &[f32],
        taps: &[Tap],
        inside: &[Pixel],
        out_c: usize,
        relu: bool,
        y: &mut [f32],
    ) -> usize {
        let grouped = inside.len() / 4 * 4;
        let (wide, lanes, eights) = (out_c / 64 * 64, out_c / 32 * 32, out_c / 8 * 8);
        for four in inside[..grouped].chunks_exact(4) {
            let four = [four[0], four[1], four[2], four[3]];
            for first in (0..wide).step_by(64) {
                four_pixels::<Self, 64>(x, kernel, bias, taps, four, first, relu, y);
            }
            for first in (wide..lanes).step_by(32) {
                four_pixels::<Self, 32>(x, kernel, bias, taps, four, first, relu, y);
            }
            for first in (lanes..eights).step_by(8) {
                four_pixels::<Self, 8>(x, kernel, bias, taps, four, first, relu, y);
            }
            for first in eights..out_c {
                four_pixels::<Self, 1>(x, kernel, bias, taps, four, first, relu, y);
            }
        }
        grouped
    }

    #[inline(always)]
    fn kernel_gradient(x: &[f32], dz: &[f32], pixels: &[Pixel], taps: &[Tap], out_c: usize, dk: &mut [f32]) {
        let (wide, lanes, eights) = (out_c / 64 * 64, out_c / 32 * 32, out_c / 8 * 8);
        for first in (0..wide).step_by(64) {
            taps_in_threes::<Self, 64>(x, dz, pixels, taps, first, dk);
        }
        for first in (wide..lanes).step_by(32) {
            taps_in_threes::<Self, 32>(x, dz, pixels, taps, first, dk);
        }
        for first in (lanes..eights).step_by(8) {
            taps_in_threes::<Self, 8>(x, dz, pixels, taps, first, dk);
        }
        for first in eights..out_c {
            taps_in_threes::<Self, 1>(x, dz, pixels, taps, first, dk);
        }
    }
}

impl Blocking for Portable {
    #[inline(always)]
    fn forward(
        x: &[f32],
        kernel: &[f32],
        bias: &[f32],
        taps: &[Tap],
        inside: &[Pixel],
        out_c: usize,
        relu: bool,
        y: &mut [f32],
    ) -> usize {
        four_pixel_blocks::<Self, 8>(x, kernel, bias, taps, inside, out_c, relu, y)
    }

    #[inline(always)]
    fn kernel_gradient(x: &[f32], dz: &[f32], pixels: &[Pixel], taps: &[Tap], out_c: usize, dk: &mut [f32]) {
        tap_blocks::<Self, 8>(x, dz, pixels, taps, out_c, dk);
    }
}

/// `a · b + c`: one fused multiply-add instruction where `B` has them, a multiply and an add
/// otherwise.
#[inline(always)]
pub(super) fn mul_add<B: MulAdd>(a: f32, b: f32, c: f32) -> f32 {
    if B::FMA { a.mul_add(b, c) } else { a * b + c }
}

/// Writes a block of sums to `out`, through a ReLU if `relu`: applied while the sums are
/// still in registers (`v < 0.0`, so that a NaN stays a NaN).
#[inline(always)]
fn store<const N: usize>(mut acc: [f32; N], relu: bool, out: &mut [f32]) {
    if relu {
        acc = acc.map(|v| if v < 0.0 { 0.0 } else { v });
    }
    out.copy_from_slice(&acc);
}

/// The `N` kernel weights of one tap from filter `first`.
#[inline(always)]
fn row<const N: usize>(values: &[f32], at: usize) -> &[f32; N] {
    values[at..][..N].try_into().expect("a slice of N values")
}

/// One pixel's outputs (its window at `x`, over `taps`), in blocks of `N` filters from filter
/// `first`; returns the part of `out` too short for a whole block.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn one_pixel_blocks<'a, B: MulAdd, const N: usize>(
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
        let mut acc = *row::<N>(bias, first);
        for tap in taps {
            let (v, k) = (x[tap.x], row::<N>(kernel, tap.kernel + first));
            (0..N).for_each(|f| acc[f] = mul_add::<B>(v, k[f], acc[f]));
        }
        store(acc, relu, out);
    }
    blocks.into_remainder()
}

// ANCHOR: four_pixels
/// Four pixels × the `N` filters from `first`, with their 4 × `N` sums in registers: each
/// kernel row of `N` weights is loaded once for four pixels.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn four_pixels<B: MulAdd, const N: usize>(
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    taps: &[Tap],
    at: [Pixel; 4],
    first: usize,
    relu: bool,
    y: &mut [f32],
) {
    let b = *row::<N>(bias, first);
    let (mut a0, mut a1, mut a2, mut a3) = (b, b, b, b);
    let (x0, x1, x2, x3) = (&x[at[0].x..], &x[at[1].x..], &x[at[2].x..], &x[at[3].x..]);
    for tap in taps {
        let k = row::<N>(kernel, tap.kernel + first);
        let (v0, v1, v2, v3) = (x0[tap.x], x1[tap.x], x2[tap.x], x3[tap.x]);
        for f in 0..N {
            a0[f] = mul_add::<B>(v0, k[f], a0[f]);
            a1[f] = mul_add::<B>(v1, k[f], a1[f]);
            a2[f] = mul_add::<B>(v2, k[f], a2[f]);
            a3[f] = mul_add::<B>(v3, k[f], a3[f]);
        }
    }
    store(a0, relu, &mut y[at[0].out + first..][..N]);
    store(a1, relu, &mut y[at[1].out + first..][..N]);
    store(a2, relu, &mut y[at[2].out + first..][..N]);
    store(a3, relu, &mut y[at[3].out + first..][..N]);
}
// ANCHOR_END: four_pixels

/// The pixels `inside` four at a time, in blocks of `N` filters and then single filters;
/// returns how many pixels that was.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn four_pixel_blocks<B: MulAdd, const N: usize>(
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    taps: &[Tap],
    inside: &[Pixel],
    out_c: usize,
    relu: bool,
    y: &mut [f32],
) -> usize {
    let grouped = inside.len() / 4 * 4;
    let blocks = out_c / N * N;
    for four in inside[..grouped].chunks_exact(4) {
        let four = [four[0], four[1], four[2], four[3]];
        for first in (0..blocks).step_by(N) {
            four_pixels::<B, N>(x, kernel, bias, taps, four, first, relu, y);
        }
        for first in blocks..out_c {
            four_pixels::<B, 1>(x, kernel, bias, taps, four, first, relu, y);
        }
    }
    grouped
}

/// `dkernel[tap][f] += Σ_pixels x[pixel + tap] · dz[pixel][f]` for three taps and the `N`
/// filters from `first`. The 3 × `N` sums stay in registers for the whole pass over
/// `pixels`: each pixel costs `3 · N` multiply-adds and no stores. (Three named arrays rather
/// than an array of arrays: the compiler keeps those in registers, and it does not for a
/// nested array.)
#[inline(always)]
fn accumulate3<B: MulAdd, const N: usize>(
    x: &[f32],
    dz: &[f32],
    pixels: &[Pixel],
    taps: [Tap; 3],
    first: usize,
    dkernel: &mut [f32],
) {
    let (mut a0, mut a1, mut a2) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
    for p in pixels {
        let d = row::<N>(dz, p.out + first);
        let (v0, v1, v2) = (x[p.x + taps[0].x], x[p.x + taps[1].x], x[p.x + taps[2].x]);
        for f in 0..N {
            a0[f] = mul_add::<B>(v0, d[f], a0[f]);
            a1[f] = mul_add::<B>(v1, d[f], a1[f]);
            a2[f] = mul_add::<B>(v2, d[f], a2[f]);
        }
    }
    for (acc, tap) in [a0, a1, a2].iter().zip(taps) {
        let dk = &mut dkernel[tap.kernel + first..][..N];
        dk.iter_mut().zip(acc).for_each(|(k, a)| *k += a);
    }
}

/// [`accumulate3`] for one tap (the last one or two of a window whose length is not a
/// multiple of the block's).
#[inline(always)]
fn accumulate1<B: MulAdd, const N: usize>(
    x: &[f32],
    dz: &[f32],
    pixels: &[Pixel],
    tap: Tap,
    first: usize,
    dkernel: &mut [f32],
) {
    let mut acc = [0.0f32; N];
    for p in pixels {
        let (d, v) = (row::<N>(dz, p.out + first), x[p.x + tap.x]);
        (0..N).for_each(|f| acc[f] = mul_add::<B>(v, d[f], acc[f]));
    }
    let dk = &mut dkernel[tap.kernel + first..][..N];
    dk.iter_mut().zip(acc).for_each(|(k, a)| *k += a);
}

/// Every tap × the `N` filters from `first`: taps three at a time, then one.
#[inline(always)]
pub(super) fn taps_in_threes<B: MulAdd, const N: usize>(
    x: &[f32],
    dz: &[f32],
    pixels: &[Pixel],
    taps: &[Tap],
    first: usize,
    dk: &mut [f32],
) {
    let mut threes = taps.chunks_exact(3);
    for three in &mut threes {
        accumulate3::<B, N>(x, dz, pixels, [three[0], three[1], three[2]], first, dk);
    }
    for &tap in threes.remainder() {
        accumulate1::<B, N>(x, dz, pixels, tap, first, dk);
    }
}

/// Every tap × every filter: filters in blocks of `N` (then one at a time), taps three at a
/// time.
#[inline(always)]
fn tap_blocks<B: MulAdd, const N: usize>(
    x: &[f32],
    dz: &[f32],
    pixels: &[Pixel],
    taps: &[Tap],
    out_c: usize,
    dk: &mut [f32],
) {
    let blocks = out_c / N * N;
    for first in (0..blocks).step_by(N) {
        taps_in_threes::<B, N>(x, dz, pixels, taps, first, dk);
    }
    for first in blocks..out_c {
        taps_in_threes::<B, 1>(x, dz, pixels, taps, first, dk);
    }
}
