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
//! the processor's registers (`blocks.rs`); the variant is chosen when the program runs
//! ([`Isa`]).
//!
//! The kernel gradient is done the same way round ([`kernel_gradient`]): a block of kernel
//! weights' sums stays in registers for a whole pass over an image's output gradient. So is
//! the input gradient ([`input_gradient`]): a few pixels' output gradients sent back through
//! the kernel at one window position, a block of input channels at a time.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod blocks;

use std::borrow::Cow;
use std::ops::Range;

use rayon::prelude::*;

use super::isa::Isa;
use super::runs::{add_weight_grads_in_order, samples_per_run};
use crate::activation::Activation;
use crate::geometry::ConvGeometry;
use crate::shape::Window2D;
use blocks::{Blocking, MulAdd, Portable, one_pixel_blocks};

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

/// Consecutive pixels of one output row whose windows lie wholly inside the image: where the
/// first one's window starts and its output row is, and how many there are. The next pixel's
/// window starts [`Windows`]' `step` values further on, its output row `out_c` further on.
#[derive(Debug, Clone, Copy)]
struct PixelRow {
    x: usize,
    out: usize,
    len: usize,
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

/// Where the windows of one image of a geometry lie, sorted out once per batch (or per
/// training step) rather than once per image: the taps of a whole window; the pixels whose
/// windows lie wholly inside the image (all of them with `valid` padding), which share those
/// taps and go in blocks; and each other pixel, whose window reaches into the padding, with
/// its own, shorter list of taps.
#[derive(Debug, Clone)]
pub struct Windows {
    taps: Vec<Tap>,
    inside: Vec<Pixel>,
    /// The same pixels as runs along output rows, and the step between a run's windows (for
    /// the AVX2 loops).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    rows: Vec<PixelRow>,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    step: usize,
    partial: Vec<(Pixel, Vec<Tap>)>,
    /// Values per image of the input and of the output.
    x_len: usize,
    y_len: usize,
}

impl Windows {
    /// The windows of one image of geometry `g` (its batch size does not matter).
    pub fn new(g: &ConvGeometry) -> Windows {
        Windows::of_pixels(g, |_| true)
    }

    // ANCHOR: read_by
    /// The windows of only those output pixels that a pooling over `pool` (whose input is
    /// this convolution's output) reads. The others are never computed: a pooling whose
    /// windows do not cover its input, such as a 2×2 `valid` pooling of an odd size, which
    /// leaves out the last row and column, would never read them.
    pub fn read_by(g: &ConvGeometry, pool: &Window2D) -> Windows {
        let (out_h, out_w) = (g.window.out_h, g.window.out_w);
        debug_assert_eq!((pool.in_h, pool.in_w), (out_h, out_w), "the pooling reads this output");
        let (mut rows, mut cols) = (vec![false; out_h], vec![false; out_w]);
        for oh in 0..pool.out_h {
            let (kernel_rows, ih) = pool.kernel_rows_inside(oh);
            rows[ih..ih + kernel_rows.len()].fill(true);
        }
        for ow in 0..pool.out_w {
            let (kernel_cols, iw) = pool.kernel_cols_inside(ow);
            cols[iw..iw + kernel_cols.len()].fill(true);
        }
        Windows::of_pixels(g, |pixel| rows[pixel / out_w] && cols[pixel % out_w])
    }
    // ANCHOR_END: read_by

    /// The windows of the output pixels (numbered in row-major order) for which `wanted` is
    /// true.
    fn of_pixels(g: &ConvGeometry, wanted: impl Fn(usize) -> bool) -> Windows {
        let (w, out_c) = (&g.window, g.out_c);
        let mut taps = Vec::with_capacity(g.patch_len());
        window_taps(g, 0..w.k_h, 0..w.k_w, &mut taps);
        let (mut inside, mut partial) = (Vec::with_capacity(g.sample_rows()), Vec::new());
        for pixel in (0..g.sample_rows()).filter(|&p| wanted(p)) {
            let ((rows, ih), (cols, iw)) =
                (w.kernel_rows_inside(pixel / w.out_w), w.kernel_cols_inside(pixel % w.out_w));
            let at = Pixel { x: (ih * w.in_w + iw) * g.in_c, out: pixel * out_c };
            if rows.len() == w.k_h && cols.len() == w.k_w {
                inside.push(at);
            } else {
                let mut own = Vec::new();
                window_taps(g, rows, cols, &mut own);
                partial.push((at, own));
            }
        }
        let step = g.in_c * w.stride_w;
        let mut rows: Vec<PixelRow> = Vec::new();
        for &p in &inside {
            match rows.last_mut() {
                Some(row) if p.x == row.x + row.len * step && p.out == row.out + row.len * out_c => {
                    row.len += 1
                }
                _ => rows.push(PixelRow { x: p.x, out: p.out, len: 1 }),
            }
        }
        let (x_len, y_len) = (g.sample_input_len(), g.sample_output_len());
        Windows { taps, inside, rows, step, partial, x_len, y_len }
    }

    /// [`Windows::inside`] as runs along output rows.
    #[cfg(target_arch = "x86_64")]
    fn rows(&self, images: usize) -> Vec<PixelRow> {
        let mut all = Vec::with_capacity(images * self.rows.len());
        for image in 0..images {
            let (x, out) = (image * self.x_len, image * self.y_len);
            all.extend(self.rows.iter().map(|r| PixelRow { x: r.x + x, out: r.out + out, len: r.len }));
        }
        all
    }

    /// The pixels of `images` consecutive images whose windows lie wholly inside them.
    fn inside(&self, images: usize) -> Cow<'_, [Pixel]> {
        // One image's are the list itself, with nothing to copy (the fused passes ask for
        // one image at a time).
        if images == 1 {
            return Cow::Borrowed(&self.inside);
        }
        let mut all = Vec::with_capacity(images * self.inside.len());
        for image in 0..images {
            let (x, out) = (image * self.x_len, image * self.y_len);
            all.extend(self.inside.iter().map(|p| Pixel { x: p.x + x, out: p.out + out }));
        }
        Cow::Owned(all)
    }

    /// The other pixels of `images` consecutive images, each with its taps.
    fn partial(&self, images: usize) -> impl Iterator<Item = (Pixel, &[Tap])> {
        (0..images).flat_map(move |image| {
            let (x, out) = (image * self.x_len, image * self.y_len);
            self.partial.iter().map(move |(p, taps)| (Pixel { x: p.x + x, out: p.out + out }, &taps[..]))
        })
    }
}

/// A convolution's kernel as the forward loops of one instruction set read it: the
/// `(k_h, k_w, in_c, out_c)` weights and, for AVX2's six-pixel blocks, the same weights
/// again, sixteen filters at a time (see [`sixteen_filter_slices`] why). Made once for a
/// batch, and once for all the images a fused pass ([`super::fused`]) takes one at a time.
pub struct ForwardKernel<'a> {
    isa: Isa,
    weights: &'a [f32],
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    slices: Vec<f32>,
}

impl<'a> ForwardKernel<'a> {
    /// The kernel `weights` of the convolution `g` for the loops of `isa`, or of the best
    /// set the processor has if it lacks `isa`.
    pub fn new(isa: Isa, g: &ConvGeometry, weights: &'a [f32]) -> ForwardKernel<'a> {
        let isa = isa.supported();
        let six_pixels = isa == Isa::Avx2 && six_pixel_blocks(g);
        let slices = if six_pixels { sixteen_filter_slices(weights, g.out_c) } else { Vec::new() };
        ForwardKernel { isa, weights, slices }
    }
}

/// Whether AVX2's forward pass runs `g` in its six-pixel blocks ([`avx2`]). A window row of
/// fewer than 8 values (the first layer's: 3) leaves those blocks more time starting rows
/// than multiplying: there the generic blocks of four pixels × 16 filters, which walk a
/// window's taps in one loop, run faster.
fn six_pixel_blocks(g: &ConvGeometry) -> bool {
    g.in_c * g.window.k_w >= 8
}

/// The first `out_c / 16 * 16` filters of `kernel` (`taps × out_c`), sixteen at a time:
/// slice `s` holds the weights of filters `16·s .. 16·s + 16`, tap after tap.
///
/// AVX2's blocks read sixteen filters' weights at every tap: in the kernel those are 64 bytes
/// of each `4 · out_c` byte row, all the same distance apart, which maps them onto a few sets
/// of the first-level cache (a quarter of them for 64 filters), too few to keep them there.
/// Copied into one run, they stay while a chunk of pixels goes by.
fn sixteen_filter_slices(kernel: &[f32], out_c: usize) -> Vec<f32> {
    let sixteens = out_c / 16 * 16;
    let mut slices = Vec::with_capacity(kernel.len() / out_c.max(1) * sixteens);
    for first in (0..sixteens).step_by(16) {
        for row in kernel.chunks_exact(out_c) {
            slices.extend_from_slice(&row[first..first + 16]);
        }
    }
    slices
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

compiled_for!(forward_avx512, "avx512f,avx2,fma", forward_images_with::<blocks::Wide>(
    g: &ConvGeometry, windows: &Windows, x: &[f32], kernel: &[f32], bias: &[f32], activation: Activation,
    y: &mut [f32]
));
compiled_for!(kernel_gradient_avx512, "avx512f,avx2,fma", kernel_gradient_images_with::<blocks::Wide>(
    g: &ConvGeometry, windows: &Windows, x: &[f32], dz: &[f32], dkernel: &mut [f32], dbias: &mut [f32]
));

/// [`forward_images`] in AVX2 instructions: the whole windows by [`avx2`]'s blocks, the few
/// filters past the last multiple of 8 and the windows over the padding one at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn forward_avx2(
    g: &ConvGeometry,
    windows: &Windows,
    x: &[f32],
    kernel: &ForwardKernel,
    bias: &[f32],
    activation: Activation,
    y: &mut [f32],
) {
    let (out_c, filters, slices) = (g.out_c, g.out_c / 8 * 8, &kernel.slices[..]);
    let kernel = kernel.weights;
    let six_pixels = six_pixel_blocks(g);
    forward_images_by::<blocks::Avx2>(g, windows, x, kernel, bias, activation, y, |taps, inside, relu, y| {
        if !six_pixels {
            return blocks::four_pixel_blocks::<blocks::Avx2, 16>(
                x, kernel, bias, taps, inside, out_c, relu, y,
            );
        }
        avx2::forward_whole_windows(g, x, (kernel, slices), bias, inside, filters, relu, y);
        for p in inside.iter().filter(|_| filters < out_c) {
            let rest = &mut y[p.out + filters..p.out + out_c];
            one_pixel_blocks::<blocks::Avx2, 1>(&x[p.x..], kernel, bias, taps, relu, filters, rest);
        }
        inside.len()
    });
}

/// [`kernel_gradient_images`] in AVX2 instructions, blocked as [`forward_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn kernel_gradient_avx2(
    g: &ConvGeometry,
    windows: &Windows,
    x: &[f32],
    dz: &[f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    let (out_c, filters) = (g.out_c, g.out_c / 8 * 8);
    kernel_gradient_images_by::<blocks::Avx2>(g, windows, x, dz, dkernel, dbias, |taps, pixels, dk| {
        let rows = windows.rows(g.batch);
        avx2::kernel_gradient_whole_windows(g, x, dz, (&rows, windows.step), filters, dk);
        for first in filters..out_c {
            blocks::taps_in_threes::<blocks::Avx2, 1>(x, dz, pixels, taps, first, dk);
        }
    });
}

/// `y = activation(conv(x, kernel) + bias)` for **one image** of the geometry `g` (its batch
/// size is ignored), whose [`Windows`] are `windows`: `x` is `(in_h, in_w, in_c)`, `y` is
/// `(out_h, out_w, out_c)`.
pub fn forward_image(
    g: &ConvGeometry,
    windows: &Windows,
    x: &[f32],
    kernel: &ForwardKernel,
    bias: &[f32],
    activation: Activation,
    y: &mut [f32],
) {
    forward_images(&g.with_batch(1), windows, x, kernel, bias, activation, y);
}

/// `y = activation(conv(x, kernel) + bias)` for the geometry's `g.batch` images, on this
/// thread, with the blocking of the instruction set `kernel` was made for.
fn forward_images(
    g: &ConvGeometry,
    windows: &Windows,
    x: &[f32],
    kernel: &ForwardKernel,
    bias: &[f32],
    activation: Activation,
    y: &mut [f32],
) {
    match kernel.isa {
        // SAFETY: `kernel.isa` is set only by `ForwardKernel::new`, to what `supported()`
        // gives, which is `Avx512` only when the processor reports AVX-512F, AVX2 and FMA,
        // and `Avx2` only when it reports AVX2 and FMA (`Isa::detected`): the features these
        // functions are compiled for.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { forward_avx512(g, windows, x, kernel.weights, bias, activation, y) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { forward_avx2(g, windows, x, kernel, bias, activation, y) },
        _ => forward_images_with::<Portable>(g, windows, x, kernel.weights, bias, activation, y),
    }
}

/// [`forward_images`] with the blocks of `B`.
#[inline(always)]
fn forward_images_with<B: Blocking>(
    g: &ConvGeometry,
    windows: &Windows,
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    activation: Activation,
    y: &mut [f32],
) {
    forward_images_by::<B>(g, windows, x, kernel, bias, activation, y, |taps, inside, relu, y| {
        B::forward(x, kernel, bias, taps, inside, g.out_c, relu, y)
    });
}

// ANCHOR: forward_image
/// [`forward_images`], the pixels whose windows lie wholly inside their image computed in
/// blocks by `whole(taps, pixels, relu, y)`, which returns how many of them it did; the
/// windows over the padding, and the pixels `whole` leaves, go one at a time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward_images_by<B: MulAdd>(
    g: &ConvGeometry,
    windows: &Windows,
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    activation: Activation,
    y: &mut [f32],
    whole: impl FnOnce(&[Tap], &[Pixel], bool, &mut [f32]) -> usize,
) {
    let out_c = g.out_c;
    let relu = activation == Activation::Relu;
    for (p, taps) in windows.partial(g.batch) {
        one_pixel::<B>(&x[p.x..], kernel, bias, taps, relu, &mut y[p.out..][..out_c]);
    }
    let (taps, inside) = (&windows.taps, windows.inside(g.batch));
    let grouped = whole(taps, &inside, relu, y);
    // The last few pixels, one at a time.
    for p in &inside[grouped..] {
        one_pixel::<B>(&x[p.x..], kernel, bias, taps, relu, &mut y[p.out..][..out_c]);
    }
    if !relu {
        for y_row in y.chunks_exact_mut(out_c).take(g.patch_rows()) {
            activation.apply(y_row, out_c);
        }
    }
}
// ANCHOR_END: forward_image

/// One pixel's outputs, in blocks of 64 filters, then 32, 8 and 1.
#[inline(always)]
fn one_pixel<B: MulAdd>(
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
    // One run of images per thread: the blocks of pixels run on from one image to the next.
    let (per_run, windows, kernel) =
        (samples_per_run(g.batch), Windows::new(g), ForwardKernel::new(isa, g, kernel));
    let runs = x[..g.batch * x_len].par_chunks(per_run * x_len).zip(y.par_chunks_mut(per_run * y_len));
    runs.for_each(|(x, y)| {
        let images = g.with_batch(x.len() / x_len);
        forward_images(&images, &windows, x, &kernel, bias, activation, y);
    });
}

/// Adds the kernel and bias gradients of the geometry's `g.batch` images, whose
/// [`Windows`] are `windows`, to `dkernel` and `dbias`, given `dz`, the gradient of their
/// outputs *before* the activation.
pub fn kernel_gradient_images(
    g: &ConvGeometry,
    windows: &Windows,
    x: &[f32],
    dz: &[f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    kernel_gradient_images_on(Isa::current(), g, windows, x, dz, dkernel, dbias);
}

/// [`kernel_gradient_images`] with the blocking of `isa` (or the best the processor has, if
/// it lacks `isa`).
fn kernel_gradient_images_on(
    isa: Isa,
    g: &ConvGeometry,
    windows: &Windows,
    x: &[f32],
    dz: &[f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    match isa.supported() {
        // SAFETY: `supported()` gives `Avx512` only when the processor reports AVX-512F, AVX2
        // and FMA, and `Avx2` only when it reports AVX2 and FMA (`Isa::detected`): the
        // features these functions are compiled for.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { kernel_gradient_avx512(g, windows, x, dz, dkernel, dbias) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { kernel_gradient_avx2(g, windows, x, dz, dkernel, dbias) },
        _ => kernel_gradient_images_with::<Portable>(g, windows, x, dz, dkernel, dbias),
    }
}

/// [`kernel_gradient_images`] with the blocks of `B`.
#[inline(always)]
fn kernel_gradient_images_with<B: Blocking>(
    g: &ConvGeometry,
    windows: &Windows,
    x: &[f32],
    dz: &[f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
) {
    kernel_gradient_images_by::<B>(g, windows, x, dz, dkernel, dbias, |taps, pixels, dk| {
        B::kernel_gradient(x, dz, pixels, taps, g.out_c, dk)
    });
}

// ANCHOR: kernel_gradient_images
/// [`kernel_gradient_images`], the pixels whose windows lie wholly inside the image done in
/// blocks by `whole(taps, pixels, dkernel)`.
///
/// These are the sums of im2col's `colsᵀ · dz`, `dkernel[tap][f] = Σ_pixels x[pixel's window
/// at tap] · dz[pixel][f]`, taken a block of kernel weights × a block of filters at a time
/// with the sums held in registers for a whole pass over the images' pixels, and the window
/// values read straight from the images: no patch matrix.
#[inline(always)]
fn kernel_gradient_images_by<B: MulAdd>(
    g: &ConvGeometry,
    windows: &Windows,
    x: &[f32],
    dz: &[f32],
    dkernel: &mut [f32],
    dbias: &mut [f32],
    whole: impl FnOnce(&[Tap], &[Pixel], &mut [f32]),
) {
    let out_c = g.out_c;
    for row in dz[..g.batch * g.sample_output_len()].chunks_exact(out_c) {
        dbias.iter_mut().zip(row).for_each(|(b, d)| *b += d);
    }
    // Windows wholly inside the image go through the registers; the few over the padding add
    // their products one by one.
    for (at, partial) in windows.partial(g.batch) {
        let d = &dz[at.out..][..out_c];
        for tap in partial {
            let v = x[at.x + tap.x];
            let dk = &mut dkernel[tap.kernel..][..out_c];
            dk.iter_mut().zip(d).for_each(|(k, d)| *k = blocks::mul_add::<B>(v, *d, *k));
        }
    }
    whole(&windows.taps, &windows.inside(g.batch), dkernel);
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
    let (per_run, per_pass, windows) = (samples_per_run(g.batch), images_per_pass(g), Windows::new(g));
    let runs: Vec<Vec<f32>> = x[..g.batch * x_len]
        .par_chunks(per_run * x_len)
        .zip(dz.par_chunks(per_run * y_len))
        .map(|(x, dz)| {
            let mut sums = vec![0.0; dkernel.len() + dbias.len()];
            let (dk, db) = sums.split_at_mut(dkernel.len());
            for (x, dz) in x.chunks(per_pass * x_len).zip(dz.chunks(per_pass * y_len)) {
                let images = g.with_batch(x.len() / x_len);
                kernel_gradient_images_on(isa, &images, &windows, x, dz, dk, db);
            }
            sums
        })
        .collect();
    add_weight_grads_in_order(runs.iter().map(Vec::as_slice), dkernel, dbias);
}

/// `dx = ∂loss/∂x` (overwritten) given `dz`, the gradient of the outputs *before* the
/// activation, for a whole batch, the images shared among the threads.
pub fn input_gradient(g: &ConvGeometry, kernel: &[f32], dz: &[f32], dx: &mut [f32]) {
    input_gradient_on(Isa::current(), g, kernel, dz, dx);
}

/// Whether [`input_gradient`] takes every input channel of `g` in vector blocks on this
/// processor: it has AVX2 (AVX-512 processors run the AVX2 blocks too), and the channels come
/// in eights. Otherwise most of its sums go one at a time, and im2col's `dz · kernelᵀ` and
/// col2im are faster.
pub fn input_gradient_is_blocked(g: &ConvGeometry) -> bool {
    Isa::current() >= Isa::Avx2 && g.in_c.is_multiple_of(8)
}

/// [`input_gradient`] with the blocking of `isa`, or the best the processor has if it lacks
/// `isa`. Only AVX2 has blocks for it (and AVX-512 processors run those); the portable loops
/// take one sum at a time, for reference and tests, not speed.
pub fn input_gradient_on(isa: Isa, g: &ConvGeometry, kernel: &[f32], dz: &[f32], dx: &mut [f32]) {
    let (x_len, y_len) = (g.sample_input_len(), g.sample_output_len());
    if x_len == 0 || y_len == 0 || g.batch == 0 {
        return;
    }
    let (per_run, windows) = (samples_per_run(g.batch), Windows::new(g));
    let runs = dx[..g.batch * x_len].par_chunks_mut(per_run * x_len).zip(dz.par_chunks(per_run * y_len));
    runs.for_each(|(dx, dz)| {
        let images = g.with_batch(dx.len() / x_len);
        match isa.supported() {
            // SAFETY: `supported()` gives `Avx2` or `Avx512` only when the processor reports
            // AVX2 and FMA (`Isa::detected`), the features this function is compiled for.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512 => unsafe { input_gradient_avx2(&images, &windows, kernel, dz, dx) },
            _ => input_gradient_images_by::<Portable>(&images, &windows, kernel, dz, dx, |_, _, _| 0),
        }
    });
}

/// [`input_gradient_images`] in AVX2 instructions: six pixels × sixteen input channels at a
/// time ([`avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn input_gradient_avx2(g: &ConvGeometry, windows: &Windows, kernel: &[f32], dz: &[f32], dx: &mut [f32]) {
    let channels = g.in_c / 8 * 8;
    input_gradient_images_by::<blocks::Avx2>(g, windows, kernel, dz, dx, |_, pixels, dx| {
        avx2::input_gradient_whole_windows(g, kernel, dz, pixels, channels, dx);
        channels
    });
}

// ANCHOR: input_gradient_images
/// `dx` (overwritten) for the geometry's `g.batch` images: every output pixel sends its
/// gradient back through the kernel to the inputs of its window, `dx[pixel + tap][ci] +=
/// Σ_f dz[pixel][f] · kernel[tap][ci][f]`. The pixels whose windows lie wholly inside their
/// image go through `whole(taps, pixels, dx)` for their first input channels, as many as it
/// returns; the rest go one sum at a time.
#[inline(always)]
fn input_gradient_images_by<B: MulAdd>(
    g: &ConvGeometry,
    windows: &Windows,
    kernel: &[f32],
    dz: &[f32],
    dx: &mut [f32],
    whole: impl FnOnce(&[Tap], &[Pixel], &mut [f32]) -> usize,
) {
    let (in_c, out_c) = (g.in_c, g.out_c);
    dx[..g.batch * g.sample_input_len()].fill(0.0);
    let back = |dx: &mut [f32], at: Pixel, tap: &Tap| {
        let (d, k) = (&dz[at.out..][..out_c], &kernel[tap.kernel..][..out_c]);
        dx[at.x + tap.x] += d.iter().zip(k).fold(0.0, |sum, (d, k)| blocks::mul_add::<B>(*d, *k, sum));
    };
    for (at, partial) in windows.partial(g.batch) {
        partial.iter().for_each(|tap| back(dx, at, tap));
    }
    let (taps, pixels) = (&windows.taps, windows.inside(g.batch));
    let done = whole(taps, &pixels, dx);
    if done < in_c {
        // A tap's input channel is the position of its kernel row among the window's.
        let rest: Vec<Tap> = taps.iter().copied().filter(|tap| (tap.kernel / out_c) % in_c >= done).collect();
        for at in pixels.iter() {
            rest.iter().for_each(|tap| back(dx, *at, tap));
        }
    }
}
// ANCHOR_END: input_gradient_images
