//! Max pooling made fast: a window's maxima and their positions kept in registers, a block
//! of channels at a time, and images shared among the threads.
//!
//! Same results as the textbook's [`max_pool_forward`](crate::pool::max_pool_forward) and
//! [`max_pool_backward`](crate::pool::max_pool_backward), bit for bit: a maximum is a
//! comparison, not a sum, so no order of operations can change it.

use rayon::prelude::*;

use super::isa::Isa;
use crate::shape::Window2D;

// ANCHOR: windows
/// Lists in `pixels`, in row-major order, the flat offsets in a `(h, w, c)` image of the
/// pixels under the window of output `(oh, ow)` (channel 0 of each; a pixel's `c` channels
/// follow it in memory). Positions in the padding are left out: TensorFlow ignores them (for
/// max pooling they never win). Every window holds at least one pixel: `same` padding never
/// exceeds `k − 1` in total.
#[inline(always)]
fn window_pixels(win: &Window2D, c: usize, (oh, ow): (usize, usize), pixels: &mut Vec<usize>) {
    let ((rows, ih), (cols, iw)) = (win.kernel_rows_inside(oh), win.kernel_cols_inside(ow));
    pixels.clear();
    for ih in ih..ih + rows.len() {
        for iw in iw..iw + cols.len() {
            pixels.push((ih * win.in_w + iw) * c);
        }
    }
}
// ANCHOR_END: windows

// ANCHOR: window_max
/// The largest value of a window and where it is, channel by channel, for the `N` channels
/// from `first`: `pixels` lists the window's pixels in `xs` (as [`window_pixels`] gives
/// them), and `best` and `arg` are the window's outputs and their argmax.
///
/// Strict `>`: on a tie the first maximum keeps the gradient, as TensorFlow does. A NaN
/// wins, so a diverged network shows up in the loss.
#[inline(always)]
fn window_max<const N: usize>(xs: &[f32], pixels: &[usize], first: usize, best: &mut [f32], arg: &mut [u32]) {
    #[inline(always)]
    fn at<const N: usize>(xs: &[f32], p: usize) -> [f32; N] {
        xs[p..][..N].try_into().expect("a slice of N values")
    }
    // `N` is a constant, so the maxima and their positions stay in registers while the
    // window's pixels go by, and are stored once at the end.
    // `won` holds the winning pixel (the offset of its channel 0); the lane's own channel is
    // added when the positions are stored.
    let mut b = at::<N>(xs, pixels[0] + first);
    let mut won = [pixels[0] as u32; N];
    for &p in &pixels[1..] {
        let v = at::<N>(xs, p + first);
        for lane in 0..N {
            // Branch-free: `wins` becomes an all-ones or all-zeros bit mask that picks
            // between old and new with `&` and `|`, so the loop runs on whole SIMD registers.
            let wins = (v[lane] > b[lane]) | (v[lane].is_nan() & !b[lane].is_nan());
            let mask = u32::from(wins).wrapping_neg();
            b[lane] = f32::from_bits((v[lane].to_bits() & mask) | (b[lane].to_bits() & !mask));
            won[lane] = (p as u32 & mask) | (won[lane] & !mask);
        }
    }
    best[first..first + N].copy_from_slice(&b);
    for (lane, (arg, won)) in arg[first..first + N].iter_mut().zip(won).enumerate() {
        *arg = won + (first + lane) as u32;
    }
}
// ANCHOR_END: window_max

/// Max-pools one `(h, w, c)` image `xs` into `ys`, with the position of each output's
/// maximum in `argmax`, with the widest vector instructions the processor has ([`Isa`]).
pub fn max_pool_image(win: &Window2D, c: usize, xs: &[f32], ys: &mut [f32], argmax: &mut [u32]) {
    max_pool_image_on(Isa::current(), win, c, xs, ys, argmax);
}

/// [`max_pool_image`] compiled for `isa`, or for the best the processor has if it lacks
/// `isa`: the same bits whichever, as tests check on every set the processor has.
pub fn max_pool_image_on(isa: Isa, win: &Window2D, c: usize, xs: &[f32], ys: &mut [f32], argmax: &mut [u32]) {
    match isa.supported() {
        // SAFETY: `supported()` gives `Avx512` only when the processor reports AVX-512F,
        // AVX2 and FMA, and `Avx2` only when it reports AVX2 and FMA (`Isa::detected`): the
        // features these functions are compiled for.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { max_pool_image_avx512(win, c, xs, ys, argmax) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { max_pool_image_avx2(win, c, xs, ys, argmax) },
        _ => max_pool_image_with(win, c, xs, ys, argmax),
    }
}

/// [`max_pool_image_with`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn max_pool_image_avx512(win: &Window2D, c: usize, xs: &[f32], ys: &mut [f32], argmax: &mut [u32]) {
    max_pool_image_with(win, c, xs, ys, argmax);
}

/// [`max_pool_image_with`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn max_pool_image_avx2(win: &Window2D, c: usize, xs: &[f32], ys: &mut [f32], argmax: &mut [u32]) {
    max_pool_image_with(win, c, xs, ys, argmax);
}

// ANCHOR: max_pool_image
/// [`max_pool_image`], inlined into a function compiled for the instruction set at hand.
#[inline(always)]
fn max_pool_image_with(win: &Window2D, c: usize, xs: &[f32], ys: &mut [f32], argmax: &mut [u32]) {
    // Plain loops rather than closures: a closure is compiled on its own, without the
    // instruction set of the function it is written in.
    let mut pixels = Vec::with_capacity(win.k_h * win.k_w);
    let (sixteens, eights, outputs) = (c / 16 * 16, c / 8 * 8, win.out_h * win.out_w);
    let windows = ys.chunks_exact_mut(c.max(1)).zip(argmax.chunks_exact_mut(c.max(1))).take(outputs);
    for (out, (best, arg)) in windows.enumerate() {
        window_pixels(win, c, (out / win.out_w, out % win.out_w), &mut pixels);
        // Sixteen channels at a time (one AVX-512 register), then eight, then one.
        for first in (0..sixteens).step_by(16) {
            window_max::<16>(xs, &pixels, first, best, arg);
        }
        for first in (sixteens..eights).step_by(8) {
            window_max::<8>(xs, &pixels, first, best, arg);
        }
        for first in eights..c {
            window_max::<1>(xs, &pixels, first, best, arg);
        }
    }
}
// ANCHOR_END: max_pool_image

// ANCHOR: scatter_image
/// The gradient of one image's max pooling: `dx` (the image's, overwritten) from its
/// outputs' `dy`, `argmax` and values `y`; `through_relu` keeps only the gradients of
/// positive outputs (see [`max_pool_backward`]).
pub fn scatter_image(dy: &[f32], argmax: &[u32], y: &[f32], through_relu: bool, dx: &mut [f32]) {
    dx.fill(0.0);
    for ((&d, &i), &y) in dy.iter().zip(argmax).zip(y) {
        // Written with `y > 0`, as in ReLU: a NaN output blocks the gradient too.
        dx[i as usize] += if !through_relu || y > 0.0 { d } else { 0.0 };
    }
}
// ANCHOR_END: scatter_image

/// Max-pools a batch of images `x` (`win` and `c` give their sizes) into `y` and `argmax`,
/// each thread taking whole images.
pub fn max_pool_forward(win: &Window2D, c: usize, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let (x_len, y_len) = (win.in_h * win.in_w * c, win.out_h * win.out_w * c);
    if x_len == 0 || y_len == 0 {
        return;
    }
    let images = x.par_chunks(x_len).zip(y.par_chunks_mut(y_len));
    images
        .zip(argmax.par_chunks_mut(y_len))
        .for_each(|((x, y), argmax)| max_pool_image(win, c, x, y, argmax));
}

// ANCHOR: max_pool_backward
/// `dx` (overwritten) from `dy`, an image at a time: each output's gradient goes to its
/// window's winner. With `through_relu`, the ReLU of the layer before is folded in: max
/// pooling and ReLU commute (the largest of some ReLU outputs is the ReLU of the largest
/// input), so the winner was positive exactly when the window's output `y` is, and only
/// those gradients pass. This spares the ReLU a pass over its whole output and gradient.
pub fn max_pool_backward(
    win: &Window2D,
    c: usize,
    dy: &[f32],
    argmax: &[u32],
    y: &[f32],
    through_relu: bool,
    dx: &mut [f32],
) {
    let (x_len, y_len) = (win.in_h * win.in_w * c, win.out_h * win.out_w * c);
    if x_len == 0 || y_len == 0 {
        dx.fill(0.0);
        return;
    }
    let images = dx.par_chunks_mut(x_len).zip(dy.par_chunks(y_len));
    let winners = argmax.par_chunks(y_len).zip(y.par_chunks(y_len));
    images.zip(winners).for_each(|((dx, dy), (argmax, y))| scatter_image(dy, argmax, y, through_relu, dx));
}
// ANCHOR_END: max_pool_backward
