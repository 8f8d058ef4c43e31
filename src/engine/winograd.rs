//! Winograd's minimal filtering F(2×2, 3×3): a 3×3 convolution with stride 1 computed two
//! by two output pixels at a time, with 16 multiplications per input channel and filter
//! where the direct loops take 36.
//!
//! Two outputs of a 3-tap filter `g` over four inputs `d` take six multiplications done
//! directly; Winograd's way takes four, of sums prepared beforehand:
//!
//! ```text
//! y0 = d0·g0 + d1·g1 + d2·g2        m0 = (d0 − d2)·g0    m1 = (d1 + d2)·(g0 + g1 + g2)/2
//! y1 = d1·g0 + d2·g1 + d3·g2        m3 = (d1 − d3)·g2    m2 = (d2 − d1)·(g0 − g1 + g2)/2
//!                                   y0 = m0 + m1 + m2    y1 = m1 − m2 − m3
//! ```
//!
//! In matrix form `y = Aᵀ[(G g) ⊙ (Bᵀ d)]`. Along rows and then columns it gives the 2×2
//! outputs of a 4×4 *tile* of input, `Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`, in 16 multiplications
//! instead of 36. The kernel's side, `G g Gᵀ`, is computed once; the tile's side, `Bᵀ d B`,
//! and the way back, `Aᵀ · A`, are only additions. Summed over the input channels, the 16
//! element-wise products become 16 matrix products, one per position `ξ` of a transformed
//! tile: `M_ξ = U_ξ · V_ξ`, the tiles' transformed inputs (`tiles × in_c`) times the
//! transformed kernel (`in_c × out_c`). Each is a 1×1 convolution of an "image" whose pixels
//! are the tiles, which the direct loops ([`super::direct`]) compute in their blocks.
//!
//! The sums are rounded along another path than the convolution's own: the outputs agree
//! with the direct loops' to about a millionth of the largest of them, not bit for bit. So
//! the engine uses this only to predict, never to train (a training step's forward pass must
//! give the outputs its backward pass differentiates), and only where it measured faster
//! ([`super::conv::ConvAlgorithm::Auto`]).

use std::ops::Range;

use super::direct::{self, ForwardKernel, Windows};
use super::isa::Isa;
use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::geometry::ConvGeometry;
use crate::padding::Padding;
use crate::shape::Window2D;

/// Positions of a transformed 4×4 tile.
const POSITIONS: usize = 16;

/// Tiles transformed, multiplied and transformed back at a time: enough rows for the direct
/// loops' blocks to run at full speed, few enough for their transforms (16 values per tile
/// and channel) to stay in a core's caches however large the image.
const GROUP: usize = 36;

/// Whether a convolution of geometry `g` can be computed this way: a 3×3 window with stride
/// 1 (any padding), with input channels and filters.
pub fn applies(g: &ConvGeometry) -> bool {
    let w = &g.window;
    (w.k_h, w.k_w, w.stride_h, w.stride_w) == (3, 3, 1, 1) && g.in_c > 0 && g.out_c > 0
}

/// How many tiles of 2×2 output pixels, from the top left corner, one image computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiles {
    rows: usize,
    cols: usize,
}

impl Tiles {
    /// Tiles over every output pixel of `g`. With an odd output side, the last row or column
    /// of tiles reaches one pixel past it: those outputs are computed and thrown away.
    pub fn all(g: &ConvGeometry) -> Tiles {
        Tiles { rows: g.window.out_h.div_ceil(2), cols: g.window.out_w.div_ceil(2) }
    }

    /// Tiles over the output pixels of `g` that a pooling over `pool` reads: the book's second
    /// pooling reads 10×10 of its 11×11 input, exactly 5×5 tiles.
    pub fn read_by(g: &ConvGeometry, pool: &Window2D) -> Tiles {
        debug_assert_eq!(
            (pool.in_h, pool.in_w),
            (g.window.out_h, g.window.out_w),
            "the pooling reads g's output"
        );
        let rows = (0..pool.out_h).map(|oh| pool.kernel_rows_inside(oh)).map(|(r, first)| first + r.len());
        let cols = (0..pool.out_w).map(|ow| pool.kernel_cols_inside(ow)).map(|(c, first)| first + c.len());
        Tiles { rows: rows.max().unwrap_or(0).div_ceil(2), cols: cols.max().unwrap_or(0).div_ceil(2) }
    }

    fn count(&self) -> usize {
        self.rows * self.cols
    }

    /// The top left output pixel of tile `tile` (tiles are numbered row by row).
    fn corner(&self, tile: usize) -> (usize, usize) {
        (2 * (tile / self.cols), 2 * (tile % self.cols))
    }
}

// ANCHOR: transform_kernel
/// The kernel (`3 × 3 × in_c × out_c`) transformed, `G g Gᵀ` for each input channel and
/// filter: 16 matrices `V_ξ` of `in_c × out_c`, one after the other.
pub fn transform_kernel(g: &ConvGeometry, kernel: &[f32]) -> Vec<f32> {
    let plane = g.in_c * g.out_c;
    let mut v = vec![0.0; POSITIONS * plane];
    for at in 0..plane {
        // The 3×3 weights of one input channel and filter: the taps are `plane` apart.
        let w = |r: usize, s: usize| kernel[(r * 3 + s) * plane + at];
        // G w (4×3), then (G w) Gᵀ (4×4).
        let gw: [[f32; 3]; 4] =
            std::array::from_fn(|a| std::array::from_fn(|s| g_row(a, [w(0, s), w(1, s), w(2, s)])));
        for (a, row) in gw.iter().enumerate() {
            for b in 0..4 {
                v[(a * 4 + b) * plane + at] = g_row(b, *row);
            }
        }
    }
    v
}

/// Row `a` of `G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]` times the three values `w`.
fn g_row(a: usize, w: [f32; 3]) -> f32 {
    match a {
        0 => w[0],
        1 => (w[0] + w[1] + w[2]) * 0.5,
        2 => (w[0] - w[1] + w[2]) * 0.5,
        _ => w[2],
    }
}
// ANCHOR_END: transform_kernel

/// A convolution ready to run tile by tile: its geometry, the tiles an image computes, and
/// the 16 products `U_ξ · V_ξ` as 1×1 convolutions for the direct loops.
pub struct Winograd<'a> {
    g: ConvGeometry,
    tiles: Tiles,
    /// Tiles per group: [`GROUP`], or all of them if there are fewer.
    group: usize,
    /// The 1×1 convolution of a group of tiles (`1 × group × in_c`) with a `V_ξ`.
    products: ConvGeometry,
    windows: Windows,
    kernels: Vec<ForwardKernel<'a>>,
    /// No bias: for the products, and the first half of the way back.
    zeros: Vec<f32>,
    isa: Isa,
}

/// One thread's room for a group of transformed tiles and their products, kept from one
/// group and image to the next.
#[derive(Debug, Default)]
pub struct Scratch {
    /// The 16 `U_ξ` one after the other (a row per tile of the group), and the 16 `M_ξ`.
    u: Vec<f32>,
    m: Vec<f32>,
    /// One tile's input with the padding's zeros, and its halfway transforms.
    patch: Vec<f32>,
    half: Vec<f32>,
}

impl<'a> Winograd<'a> {
    /// The convolution `g` over `tiles`, with its kernel `transformed` ([`transform_kernel`]),
    /// the products in the blocks of `isa` (or of the best the processor has, if it lacks
    /// `isa`).
    ///
    /// # Panics
    ///
    /// If `g` is not a convolution this computes (see [`applies`]), or `tiles` is empty.
    pub fn new(isa: Isa, g: &ConvGeometry, tiles: Tiles, transformed: &'a [f32]) -> Winograd<'a> {
        assert!(applies(g), "Winograd's F(2×2, 3×3) computes 3×3 windows with stride 1, not {:?}", g.window);
        assert!(tiles.count() > 0, "no tiles to compute");
        let (in_c, out_c, group) = (g.in_c, g.out_c, tiles.count().min(GROUP));
        let products = ConvGeometry {
            batch: 1,
            in_c,
            out_c,
            window: Window2D::new((1, group), (1, 1), (1, 1), Padding::Valid)
                .expect("a 1×1 window fits any row of tiles"),
        };
        let windows = Windows::new(&products);
        let kernels =
            transformed.chunks_exact(in_c * out_c).map(|v| ForwardKernel::new(isa, &products, v)).collect();
        Winograd {
            g: *g,
            tiles,
            group,
            products,
            windows,
            kernels,
            zeros: vec![0.0; out_c],
            isa: isa.supported(),
        }
    }

    /// Room for one thread.
    pub fn scratch(&self) -> Scratch {
        let (n, in_c, out_c) = (self.group, self.g.in_c, self.g.out_c);
        Scratch {
            u: vec![0.0; POSITIONS * n * in_c],
            m: vec![0.0; POSITIONS * n * out_c],
            patch: vec![0.0; POSITIONS * in_c],
            half: vec![0.0; POSITIONS * in_c.max(out_c)],
        }
    }

    // ANCHOR: forward_image
    /// `z = relu(conv(x, kernel) + bias)` for **one image**, at the output pixels of its
    /// tiles (the others in `z` are left as they were): `x` is `(in_h, in_w, in_c)`, `z` is
    /// `(out_h, out_w, out_c)`.
    pub fn forward_image(&self, x: &[f32], bias: &[f32], scratch: &mut Scratch, z: &mut [f32]) {
        let (n, in_c, out_c) = (self.group, self.g.in_c, self.g.out_c);
        for first in (0..self.tiles.count()).step_by(n) {
            let tiles = first..(first + n).min(self.tiles.count());
            // Each tile's 4×4 inputs, transformed: a row of each U_ξ.
            match self.isa {
                // SAFETY (both matches): `self.isa` comes from `Isa::supported`, which gives
                // `Avx512` only when the processor reports AVX-512F, AVX2 and FMA, and `Avx2`
                // only when it reports AVX2 and FMA (`Isa::detected`): what these are
                // compiled for.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { transform_tiles_avx512(self, x, tiles.clone(), scratch) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { transform_tiles_avx2(self, x, tiles.clone(), scratch) },
                _ => self.transform_tiles(x, tiles.clone(), scratch),
            }
            // The 16 products, each a 1×1 convolution of the group's tiles: M_ξ = U_ξ · V_ξ.
            // (A last group of fewer tiles leaves rows from the one before; their products
            // are never read.)
            let (u, m) = (scratch.u.chunks_exact(n * in_c), scratch.m.chunks_exact_mut(n * out_c));
            for ((u, m), v) in u.zip(m).zip(&self.kernels) {
                direct::forward_image(
                    &self.products,
                    &self.windows,
                    u,
                    v,
                    &self.zeros,
                    Activation::Linear,
                    m,
                );
            }
            // Back from each tile's 16 products to its 2×2 outputs.
            match self.isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { output_tiles_avx512(self, tiles, bias, scratch, z) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { output_tiles_avx2(self, tiles, bias, scratch, z) },
                _ => self.output_tiles(tiles, bias, scratch, z),
            }
        }
    }
    // ANCHOR_END: forward_image

    /// `Bᵀ d B` of each tile `d` of `x` in `tiles`, into its row of each `U_ξ` (the group's
    /// first tile in row 0).
    #[inline(always)]
    fn transform_tiles(&self, x: &[f32], tiles: Range<usize>, scratch: &mut Scratch) {
        let (w, in_c, n, first) = (&self.g.window, self.g.in_c, self.group, tiles.start);
        let Scratch { u, patch, half, .. } = scratch;
        for tile in tiles {
            // The tile's top left input, in padded coordinates.
            let (top, left) = self.tiles.corner(tile);
            let inside = top >= w.pads.top
                && left >= w.pads.left
                && top + 4 <= w.pads.top + w.in_h
                && left + 4 <= w.pads.left + w.in_w;
            // The tile's input: straight from the image, or copied with the padding's zeros.
            let (source, start, row_len) = if inside {
                (x, ((top - w.pads.top) * w.in_w + left - w.pads.left) * in_c, w.in_w * in_c)
            } else {
                copy_with_padding(w, in_c, x, (top, left), patch);
                (&patch[..], 0, 4 * in_c)
            };
            let d = |r: usize, s: usize| &source[start + r * row_len + s * in_c..][..in_c];
            // Bᵀ d, Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], down each column s.
            for s in 0..4 {
                let mut rows = half.chunks_exact_mut(4 * in_c).map(|row| &mut row[s * in_c..][..in_c]);
                bt(&mut rows, [d(0, s), d(1, s), d(2, s), d(3, s)]);
            }
            // (Bᵀ d) B, the same along each row a: into U_ξ for ξ = 4a, …, 4a + 3.
            for a in 0..4 {
                let t = |s: usize| &half[(a * 4 + s) * in_c..][..in_c];
                let mut rows =
                    u.chunks_exact_mut(n * in_c).skip(4 * a).map(|u| &mut u[(tile - first) * in_c..][..in_c]);
                bt(&mut rows, [t(0), t(1), t(2), t(3)]);
            }
        }
    }

    /// `Aᵀ M A` of each tile in `tiles` (the group's first in row 0 of each `M_ξ`), plus the
    /// bias, through the ReLU, into its output pixels that lie in `z`.
    #[inline(always)]
    fn output_tiles(&self, tiles: Range<usize>, bias: &[f32], scratch: &mut Scratch, z: &mut [f32]) {
        let (w, out_c, n, first) = (&self.g.window, self.g.out_c, self.group, tiles.start);
        let Scratch { m, half, .. } = scratch;
        for tile in tiles {
            let m = |a: usize, b: usize| &m[((a * 4 + b) * n + tile - first) * out_c..][..out_c];
            // Aᵀ M, Aᵀ = [1 1 1 0; 0 1 −1 −1], down each column b: `half[i · 4 + b]`.
            for b in 0..4 {
                let (top, bottom) = half[..8 * out_c].split_at_mut(4 * out_c);
                let rows = [&mut top[b * out_c..][..out_c], &mut bottom[b * out_c..][..out_c]];
                at(rows, [m(0, b), m(1, b), m(2, b), m(3, b)], &self.zeros, |v| v);
            }
            // (Aᵀ M) A along each row i, plus the bias, through the ReLU, into the pixels.
            let (top, left) = self.tiles.corner(tile);
            for i in (0..2).filter(|i| top + i < w.out_h) {
                let t = |b: usize| &half[(i * 4 + b) * out_c..][..out_c];
                let row = &mut z[((top + i) * w.out_w + left) * out_c..];
                let (first, second) = row.split_at_mut(out_c);
                let second: &mut [f32] = if left + 1 < w.out_w { &mut second[..out_c] } else { &mut [] };
                let relu = |v: f32| if v < 0.0 { 0.0 } else { v };
                at([first, second], [t(0), t(1), t(2), t(3)], bias, relu);
            }
        }
    }
}

/// Bᵀ times four rows `d`: `[d0 − d2, d1 + d2, d2 − d1, d1 − d3]`, written to the next four
/// rows of `out`.
#[inline(always)]
fn bt<'o>(out: &mut impl Iterator<Item = &'o mut [f32]>, [d0, d1, d2, d3]: [&[f32]; 4]) {
    let mut next = || out.next().expect("four rows to write");
    combine(next(), d0, d2, |p, q| p - q);
    combine(next(), d1, d2, |p, q| p + q);
    combine(next(), d2, d1, |p, q| p - q);
    combine(next(), d1, d3, |p, q| p - q);
}

/// Aᵀ times four rows `m`, plus `bias`: `[m0 + m1 + m2 + bias, m1 − m2 − m3 + bias]`, each
/// through `f`, into `out`.
#[inline(always)]
fn at(out: [&mut [f32]; 2], m: [&[f32]; 4], bias: &[f32], f: impl Fn(f32) -> f32) {
    let [m0, m1, m2, m3] = m;
    let [y0, y1] = out;
    for ((((y, &a), &b), &c), &k) in y0.iter_mut().zip(m0).zip(m1).zip(m2).zip(bias) {
        *y = f(a + b + c + k);
    }
    for ((((y, &a), &b), &c), &k) in y1.iter_mut().zip(m1).zip(m2).zip(m3).zip(bias) {
        *y = f(a - b - c + k);
    }
}

/// `out[i] = op(p[i], q[i])`: one step of a transform, for a row of channels at once.
#[inline(always)]
fn combine(out: &mut [f32], p: &[f32], q: &[f32], op: impl Fn(f32, f32) -> f32) {
    for ((o, &p), &q) in out.iter_mut().zip(p).zip(q) {
        *o = op(p, q);
    }
}

/// The 4×4 pixels of `x` from `(top, left)` in padded coordinates, into `patch`, with zeros
/// where they fall into the padding or past the image.
fn copy_with_padding(w: &Window2D, in_c: usize, x: &[f32], (top, left): (usize, usize), patch: &mut [f32]) {
    patch.fill(0.0);
    for r in 0..4 {
        for s in 0..4 {
            // Left of or above the image, the subtraction wraps to a huge index.
            let (ih, iw) = ((top + r).wrapping_sub(w.pads.top), (left + s).wrapping_sub(w.pads.left));
            if ih < w.in_h && iw < w.in_w {
                patch[(r * 4 + s) * in_c..][..in_c].copy_from_slice(&x[(ih * w.in_w + iw) * in_c..][..in_c]);
            }
        }
    }
}

/// Defines `$name`, `Winograd::$method` (the transforms, additions over rows of channels)
/// compiled with the instruction set `$features`, so that the compiler may use its vectors.
/// Calling `$name` is `unsafe`: the caller must know the processor has them.
macro_rules! compiled_for {
    ($name:ident, $features:literal, $method:ident($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        fn $name(w: &Winograd, $($arg: $ty),*) {
            w.$method($($arg),*)
        }
    };
}

compiled_for!(transform_tiles_avx2, "avx2,fma", transform_tiles(x: &[f32], tiles: Range<usize>, scratch: &mut Scratch));
compiled_for!(transform_tiles_avx512, "avx512f,avx2,fma", transform_tiles(x: &[f32], tiles: Range<usize>, scratch: &mut Scratch));
compiled_for!(output_tiles_avx2, "avx2,fma", output_tiles(tiles: Range<usize>, bias: &[f32], scratch: &mut Scratch, z: &mut [f32]));
compiled_for!(output_tiles_avx512, "avx512f,avx2,fma", output_tiles(tiles: Range<usize>, bias: &[f32], scratch: &mut Scratch, z: &mut [f32]));

/// `z = relu(conv(x, kernel) + bias)` at every output pixel, for the geometry's `g.batch`
/// images, on this thread, the products in the blocks of `isa`: the whole convolution, for
/// tests and measurements (predictions run [`Winograd::forward_image`] inside
/// [`super::fused`]). An error if `g` is not a convolution this computes ([`applies`]).
pub fn forward_on(
    isa: Isa,
    g: &ConvGeometry,
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    z: &mut [f32],
) -> Result<()> {
    if !applies(g) {
        return Err(Error::shape(format!(
            "Winograd's F(2×2, 3×3) computes 3×3 windows with stride 1 (from at least one channel \
             to at least one filter), not {}×{} with stride {:?} from {} to {}",
            g.window.k_h,
            g.window.k_w,
            (g.window.stride_h, g.window.stride_w),
            g.in_c,
            g.out_c
        )));
    }
    let (x_len, z_len) = (g.sample_input_len(), g.sample_output_len());
    if x_len == 0 || z_len == 0 {
        return Ok(());
    }
    let transformed = transform_kernel(g, kernel);
    let winograd = Winograd::new(isa, g, Tiles::all(g), &transformed);
    let mut scratch = winograd.scratch();
    for (x, z) in x.chunks_exact(x_len).zip(z.chunks_exact_mut(z_len)).take(g.batch) {
        winograd.forward_image(x, bias, &mut scratch, z);
    }
    Ok(())
}
