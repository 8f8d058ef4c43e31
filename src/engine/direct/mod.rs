//! Direct convolution: the naive loops reordered so that the sums of a few output pixels ×
//! a block of filters stay in registers.
//!
//! im2col + GEMM makes the convolution one large product, but pays for it in copies: every
//! input value is copied into up to `k_h·k_w` patch rows, and the product copies (packs) the
//! patches once more. Here there is no patch matrix. A few output pixels at a time, the loop
//! walks the window's taps; each tap loads one kernel row of a block of filters and
//! multiplies it into the sums of all those pixels, and each sum is stored once, through the
//! ReLU, at the end. That is the register blocking a GEMM's inner kernel does, with the
//! patches read straight from the image. How many pixels and filters make a block depends on
//! the processor's registers ([`blocks`]); the variant is chosen when the program runs
//! ([`Isa`]).
//!
//! The kernel gradient is done the same way round ([`kernel_gradient`]): a block of kernel
//! weights' sums stays in registers for a whole pass over an image's output gradient. The
//! input gradient is not done here: it is im2col's `dz · kernelᵀ` followed by col2im, which
//! needs no patch matrix either.

mod blocks;

use std::ops::Range;

use rayon::prelude::*;

use super::isa::Isa;
use super::runs::{add_weight_grads_in_order, samples_per_run};
use crate::activation::Activation;
use crate::geometry::ConvGeometry;
use blocks::{Blocking, Portable, one_pixel_blocks};

/// One multiply-add of a window: where its input value is (relative to the window) and
/// where its kernel row for filter 0 is.
#[derive(Debug, Clone, Copy)]
struct Tap {
    x: usize,
    kernel: usize,
}

/// An output pixel: where its window starts in the input, and where its row of outputs (or
/// of output gradients) is.
#[derive(Debug, Clone, Copy)]
struct Pixel {
    x: usize,
    out: usize,
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

/// Defines `$name`, the generic `$generic::<$blocks>` compiled with the instruction set
/// `$features`: the generic code is inlined into a function with that `#[target_feature]`,
/// so the compiler may use those instructions in it. Calling `$name` is `unsafe`: the caller
/// must know the processor has them.
macro_rules! compiled_for {
    ($name:ident, $features:literal, $generic:ident::<$blocks:ty>($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        fn $name($($arg: $ty),*) {
            $generic::<$blocks>($($arg),*)
        }
    };
}

compiled_for!(forward_image_avx512, "avx512f,avx2,fma", forward_image_with::<blocks::Wide>(
    g: &ConvGeometry, x: &[f32], kernel: &[f32], bias: &[f32], activation: Activation, y: &mut [f32]
));
compiled_for!(forward_image_avx2, "avx2,fma", forward_image_with::<blocks::Avx2>(
    g: &ConvGeometry, x: &[f32], kernel: &[f32], bias: &[f32], activation: Activation, y: &mut [f32]
));
compiled_for!(kernel_gradient_avx512, "avx512f,avx2,fma", kernel_gradient_images_with::<blocks::Wide>(
    g: &ConvGeometry, x: &[f32], dz: &[f32], dkernel: &mut [f32], dbias: &mut [f32]
));
compiled_for!(kernel_gradient_avx2, "avx2,fma", kernel_gradient_images_with::<blocks::Avx2>(
    g: &ConvGeometry, x: &[f32], dz: &[f32], dkernel: &mut [f32], dbias: &mut [f32]
));

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
    forward_image_on(Isa::current(), g, x, kernel, bias, activation, y);
}

/// [`forward_image`] with the blocking of `isa` (or the best the processor has, if it lacks
/// `isa`).
#[allow(clippy::too_many_arguments)]
pub fn forward_image_on(
    isa: Isa,
    g: &ConvGeometry,
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    activation: Activation,
    y: &mut [f32],
) {
    match isa.supported() {
        // SAFETY: `supported()` gives `Avx512` only when the processor reports AVX-512F, AVX2
        // and FMA, and `Avx2` only when it reports AVX2 and FMA (`Isa::detected`): the
        // features these functions are compiled for.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { forward_image_avx512(g, x, kernel, bias, activation, y) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { forward_image_avx2(g, x, kernel, bias, activation, y) },
        _ => forward_image_with::<Portable>(g, x, kernel, bias, activation, y),
    }
}

// ANCHOR: forward_image
/// [`forward_image`] with the blocks of `B`.
#[inline(always)]
fn forward_image_with<B: Blocking>(
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
    // one list of taps; they go in blocks. A window over the padding gets its own list.
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
        one_pixel::<B>(&x[at..], kernel, bias, &partial, relu, y_row);
    }
    let grouped = B::forward(x, kernel, bias, &whole, &inside, out_c, relu, y);
    // The last few pixels, one at a time.
    for p in &inside[grouped..] {
        one_pixel::<B>(&x[p.x..], kernel, bias, &whole, relu, &mut y[p.out..][..out_c]);
    }
    if !relu {
        for y_row in y.chunks_exact_mut(out_c).take(g.sample_rows()) {
            activation.apply(y_row, out_c);
        }
    }
}
// ANCHOR_END: forward_image

/// One pixel's outputs, in blocks of 64 filters, then 32, 8 and 1.
#[inline(always)]
fn one_pixel<B: Blocking>(
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    taps: &[Tap],
    relu: bool,
    y_row: &mut [f32],
) {
    let out_c = y_row.len();
    let rest = one_pixel_blocks::<B, 64>(x, kernel, bias, taps, relu, 0, y_row);
    let rest = one_pixel_blocks::<B, 32>(x, kernel, bias, taps, relu, out_c - rest.len(), rest);
    let rest = one_pixel_blocks::<B, 8>(x, kernel, bias, taps, relu, out_c - rest.len(), rest);
    one_pixel_blocks::<B, 1>(x, kernel, bias, taps, relu, out_c - rest.len(), rest);
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
    forward_on(Isa::current(), g, x, kernel, bias, activation, y);
}

/// [`forward`] with the blocking of `isa` (or the best the processor has, if it lacks `isa`).
#[allow(clippy::too_many_arguments)]
pub fn forward_on(
    isa: Isa,
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
    images.for_each(|(x, y)| forward_image_on(isa, g, x, kernel, bias, activation, y));
}

/// Adds the kernel and bias gradients of the geometry's `g.batch` images to `dkernel` and
/// `dbias`, given `dz`, the gradient of their outputs *before* the activation.
pub fn kernel_gradient_images(
    g: &ConvGeometry,
    x: &[f32],
    dz: &[f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    kernel_gradient_images_on(Isa::current(), g, x, dz, dkernel, dbias);
}

/// [`kernel_gradient_images`] with the blocking of `isa` (or the best the processor has, if
/// it lacks `isa`).
pub fn kernel_gradient_images_on(
    isa: Isa,
    g: &ConvGeometry,
    x: &[f32],
    dz: &[f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    match isa.supported() {
        // SAFETY: as in `forward_image_on`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { kernel_gradient_avx512(g, x, dz, dkernel, dbias) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { kernel_gradient_avx2(g, x, dz, dkernel, dbias) },
        _ => kernel_gradient_images_with::<Portable>(g, x, dz, dkernel, dbias),
    }
}

// ANCHOR: kernel_gradient_images
/// [`kernel_gradient_images`] with the blocks of `B`.
///
/// These are the sums of im2col's `colsᵀ · dz`, `dkernel[tap][f] = Σ_pixels x[pixel's window
/// at tap] · dz[pixel][f]`, taken a block of kernel weights × a block of filters at a time
/// with the sums held in registers for a whole pass over the images' pixels, and the window
/// values read straight from the images: no patch matrix.
#[inline(always)]
fn kernel_gradient_images_with<B: Blocking>(
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
            dk.iter_mut().zip(d).for_each(|(k, d)| *k = blocks::mul_add::<B>(v, *d, *k));
        }
    }
    B::kernel_gradient(x, dz, &pixels, &whole, out_c, dkernel);
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
    kernel_gradient_on(Isa::current(), g, x, dz, dkernel, dbias);
}

/// [`kernel_gradient`] with the blocking of `isa` (or the best the processor has, if it lacks
/// `isa`).
pub fn kernel_gradient_on(
    isa: Isa,
    g: &ConvGeometry,
    x: &[f32],
    dz: &[f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
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
                kernel_gradient_images_on(isa, &g.with_batch(x.len() / x_len), x, dz, dk, db);
            }
            sums
        })
        .collect();
    add_weight_grads_in_order(runs.iter().map(Vec::as_slice), dkernel, dbias);
}
