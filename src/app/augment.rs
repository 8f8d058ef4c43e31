//! Data augmentation: training on randomly moved, turned, zoomed and slanted copies of the
//! images, so a small training set looks larger (the book's section 5.2.5, Keras's
//! `ImageDataGenerator`).
//!
//! A convnet that has seen only 1,000 digits learns those 1,000 pictures, pixel by pixel. A
//! digit shifted two pixels to the left, tilted a little or written slightly larger is still
//! the same digit, so showing the network such variants, new ones every epoch, teaches it what
//! does not matter, and it overfits later.
//!
//! Every variant is an *affine transform* of the original: each point `(x, y)` moves to
//! `(a·x + b·y + tx, c·x + d·y + ty)`. Rotations, zooms, shears and shifts are all of that form,
//! and so is any chain of them ([`Affine`]). The new picture is drawn by *inverse mapping*: for
//! each output pixel we ask where it came from in the original and read the original there with
//! bilinear interpolation (the four nearest pixels, weighted by closeness). Points that come
//! from outside the original are black (0), like Keras's `fill_mode='constant', cval=0`: MNIST
//! digits are white on black, so the background stays background.
//!
//! There are no horizontal (or vertical) flips: a mirrored 2 is no digit at all, and a 6 turned
//! upside down is a 9. Flips suit cats and dogs, not digits; that is why [`Augmentation`] has
//! no flip setting, and why its rotations are small.
//!
//! ```
//! use convnets::Tensor;
//! use convnets::augment::{Augmentation, augment};
//!
//! // Two 28 × 28 "images": a white bar in the middle of black.
//! let mut images = Tensor::zeros(&[2, 28, 28, 1]).unwrap();
//! for n in 0..2 {
//!     for row in 6..22 {
//!         let i = images.offset(&[n, row, 14, 0]).unwrap();
//!         images.data_mut()[i] = 1.0;
//!     }
//! }
//! let variants = augment(&images, &Augmentation::default(), 42).unwrap();
//! assert_eq!(variants.shape(), images.shape());
//! assert_ne!(variants, images);
//! // The same seed draws the same variants; no augmentation changes nothing at all.
//! assert_eq!(variants, augment(&images, &Augmentation::default(), 42).unwrap());
//! assert_eq!(augment(&images, &Augmentation::none(), 42).unwrap(), images);
//! ```

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::picture::{self, Gray, Rgb};
use crate::tensor::Tensor;

/// How far [`augment`] may move each image: every transform is drawn uniformly between minus
/// and plus these limits. A limit of 0 switches that kind of change off.
///
/// There is deliberately no flip: mirroring changes what a digit is (see the module
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augmentation {
    /// Largest shift, as a fraction of the image's width (left/right) and height (up/down),
    /// like Keras's `width_shift_range` and `height_shift_range`: 0.1 on a 28-pixel digit
    /// moves it by up to 2.8 pixels each way.
    pub max_shift: f32,
    /// Largest rotation about the image's centre, in degrees, either way (Keras's
    /// `rotation_range`).
    pub max_rotation_degrees: f32,
    /// The zoom factor is drawn from `[1 − max_zoom, 1 + max_zoom]`; above 1 the digit gets
    /// larger. Must be below 1, so the factor stays positive. (Keras's `zoom_range` draws width
    /// and height factors separately, and its factors above 1 *shrink* the picture; here one
    /// factor keeps the digit's proportions and means what it says.)
    pub max_zoom: f32,
    /// Largest shear, in degrees, either way: the picture is slanted like italic writing, rows
    /// sliding sideways in proportion to their height, by up to this angle. Must be below 90.
    pub max_shear_degrees: f32,
}

impl Default for Augmentation {
    /// A setting that suits MNIST: shifts up to 10 % (2.8 pixels), rotations up to 10°, zooms
    /// between 0.9 and 1.1, shears up to 10°. Every variant still reads as the same digit.
    fn default() -> Augmentation {
        Augmentation { max_shift: 0.1, max_rotation_degrees: 10.0, max_zoom: 0.1, max_shear_degrees: 10.0 }
    }
}

impl Augmentation {
    /// No augmentation at all: every limit 0, so [`augment`] returns its input unchanged.
    pub fn none() -> Augmentation {
        Augmentation { max_shift: 0.0, max_rotation_degrees: 0.0, max_zoom: 0.0, max_shear_degrees: 0.0 }
    }

    /// Checks that the limits make sense: all finite and at least 0, `max_zoom` below 1 (a
    /// zoom factor of 0 or less would squash the picture to a point or mirror it) and
    /// `max_shear_degrees` below 90 (a 90° slant lays the picture flat).
    ///
    /// Fails with [`Error::Geometry`] naming the setting that is out of range.
    pub fn check(&self) -> Result<()> {
        let limits = [
            ("max_shift", self.max_shift, f32::INFINITY),
            ("max_rotation_degrees", self.max_rotation_degrees, f32::INFINITY),
            ("max_zoom", self.max_zoom, 1.0),
            ("max_shear_degrees", self.max_shear_degrees, 90.0),
        ];
        for (name, value, below) in limits {
            // Written so that NaN fails too (every comparison with NaN is false).
            if !(value.is_finite() && value >= 0.0 && value < below) {
                let range =
                    if below.is_finite() { format!("in [0, {below})") } else { "finite and ≥ 0".into() };
                return Err(Error::geometry(format!("augmentation {name} is {value}, but must be {range}")));
            }
        }
        Ok(())
    }

    // ANCHOR: draw
    /// Draws one random transform for an image of `height × width` pixels, in the coordinates
    /// [`Affine`] uses (origin at the image's centre).
    ///
    /// The digit is first zoomed, then sheared, then rotated, all about the centre, and last
    /// shifted. Five numbers (zoom, shear, rotation, shift right, shift down) are drawn from
    /// `rng` every time, even for limits of 0, so switching one kind of change off does not
    /// alter the others a seed gives.
    pub fn draw(&self, height: usize, width: usize, rng: &mut StdRng) -> Affine {
        // One number in [-1, 1] per kind of change, scaled by its limit: a limit of 0 gives
        // exactly 0 (the identity), however the number falls.
        let unit = Uniform::new_inclusive(-1.0f64, 1.0);
        let [zoom, shear, rotation, shift_x, shift_y] = [(); 5].map(|_| unit.sample(rng));
        Affine::zoom(1.0 + zoom * f64::from(self.max_zoom))
            .then(&Affine::shear(shear * f64::from(self.max_shear_degrees)))
            .then(&Affine::rotation(rotation * f64::from(self.max_rotation_degrees)))
            .then(&Affine::translation(
                shift_x * f64::from(self.max_shift) * width as f64,
                shift_y * f64::from(self.max_shift) * height as f64,
            ))
    }
    // ANCHOR_END: draw
}

/// A 2-D affine transform: the point `(x, y)` goes to `(a·x + b·y + tx, c·x + d·y + ty)`.
///
/// Coordinates are in pixels, `x` to the right (columns) and `y` *down* (rows, as an image is
/// stored), with the origin at the centre of the image, so rotations and zooms turn and grow the
/// picture about its middle. Pixel `(row, column)` of an `H × W` image sits at
/// `x = column − (W − 1)/2`, `y = row − (H − 1)/2`: pixel centres fall on whole or half numbers.
///
/// The numbers are `f64`, so chaining and inverting transforms does not blur exact pixel
/// positions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// `[[a, b, tx], [c, d, ty]]`: the rows of the 2 × 3 matrix.
    pub matrix: [[f64; 3]; 2],
}

impl Affine {
    /// Leaves every point where it is.
    pub fn identity() -> Affine {
        Affine { matrix: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] }
    }

    /// Moves every point `dx` pixels to the right and `dy` pixels down.
    pub fn translation(dx: f64, dy: f64) -> Affine {
        Affine { matrix: [[1.0, 0.0, dx], [0.0, 1.0, dy]] }
    }

    /// Turns the picture `degrees` counter-clockwise (as seen on the screen) about its centre.
    ///
    /// Because `y` points down, the familiar formula has the signs of its sines swapped: a point
    /// to the right of the centre, `(1, 0)`, turned 90° goes up, to `(0, −1)`.
    pub fn rotation(degrees: f64) -> Affine {
        let (sin, cos) = degrees.to_radians().sin_cos();
        Affine { matrix: [[cos, sin, 0.0], [-sin, cos, 0.0]] }
    }

    /// Scales the picture by `factor` about its centre: 2 doubles its size, 0.5 halves it.
    pub fn zoom(factor: f64) -> Affine {
        Affine { matrix: [[factor, 0.0, 0.0], [0.0, factor, 0.0]] }
    }

    /// Slants the picture by `degrees`, like italic writing: each row slides sideways in
    /// proportion to its height above the centre, so vertical lines lean right by that angle
    /// (left for negative angles) while rows stay horizontal.
    pub fn shear(degrees: f64) -> Affine {
        // A row `y` above the centre has y < 0 (y points down), and slides right by −y·tan.
        let slant = degrees.to_radians().tan();
        Affine { matrix: [[1.0, -slant, 0.0], [0.0, 1.0, 0.0]] }
    }

    /// Where the point `(x, y)` goes.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let [[a, b, tx], [c, d, ty]] = self.matrix;
        (a * x + b * y + tx, c * x + d * y + ty)
    }

    /// This transform followed by `next`: `a.then(&b).apply(p) == b.apply(a.apply(p))`.
    pub fn then(&self, next: &Affine) -> Affine {
        // The product of the 3 × 3 matrices [next; 0 0 1] · [self; 0 0 1], keeping the top rows.
        let [[a, b, tx], [c, d, ty]] = self.matrix;
        let m = next.matrix;
        let row = |r: [f64; 3]| [r[0] * a + r[1] * c, r[0] * b + r[1] * d, r[0] * tx + r[1] * ty + r[2]];
        Affine { matrix: [row(m[0]), row(m[1])] }
    }

    /// The transform that undoes this one: where each point came from.
    ///
    /// Fails with [`Error::Geometry`] if the transform squashes the plane onto a line or a
    /// point (its determinant `a·d − b·c` is 0, so it cannot be undone) or holds NaN or infinity.
    pub fn inverse(&self) -> Result<Affine> {
        let [[a, b, tx], [c, d, ty]] = self.matrix;
        let det = a * d - b * c;
        if det == 0.0 || !det.is_finite() || !tx.is_finite() || !ty.is_finite() {
            return Err(Error::geometry(format!(
                "the affine transform {:?} cannot be undone (its determinant is {det})",
                self.matrix
            )));
        }
        // The inverse of the 2 × 2 part is [d, −b; −c, a] / det; the shift is undone after it.
        let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
        Ok(Affine { matrix: [[ia, ib, -(ia * tx + ib * ty)], [ic, id, -(ic * tx + id * ty)]] })
    }
}

/// Moves every image of an NHWC batch `(N, H, W, C)` by the same transform `affine`, resampling
/// with bilinear interpolation; what comes from outside the image is 0 (black). All channels of
/// a pixel move together.
///
/// This is the deterministic heart of [`augment`], for when you want a transform of your own
/// choosing: `Affine::translation(1.0, 0.0)` moves the picture one pixel to the right,
/// `Affine::rotation(90.0)` turns a square picture a quarter turn, `Affine::zoom(2.0)` doubles
/// it about its centre. The identity gives back the input exactly, bit for bit.
///
/// ```
/// use convnets::Tensor;
/// use convnets::augment::{Affine, transform_image};
///
/// let image = Tensor::arange(&[1, 2, 3, 1]).unwrap(); // rows [0 1 2] and [3 4 5]
/// let moved = transform_image(&image, &Affine::translation(1.0, 0.0)).unwrap();
/// assert_eq!(moved.data(), &[0.0, 0.0, 1.0, 0.0, 3.0, 4.0]);
/// ```
///
/// Fails with [`Error::Shape`] if `images` is not 4-D and with [`Error::Geometry`] if `affine`
/// cannot be undone ([`Affine::inverse`]).
pub fn transform_image(images: &Tensor, affine: &Affine) -> Result<Tensor> {
    let (n, _, _, _) = images.nhwc()?;
    let inverse = affine.inverse()?;
    resample_batch(images, &vec![inverse; n])
}

/// Random variants of every image of an NHWC batch `(N, H, W, C)`: each image gets its own
/// transform, drawn by [`Augmentation::draw`] from a random generator seeded with `seed`.
///
/// The same images, settings and seed always give the same variants; another seed gives others.
/// With [`Augmentation::none`] the images come back unchanged, bit for bit. Values stay within
/// the input's range, widened to include 0: each output value is a weighted average of input
/// values and the black (0) outside.
///
/// Fails with [`Error::Shape`] if `images` is not 4-D and with [`Error::Geometry`] if the
/// settings are out of range ([`Augmentation::check`]).
pub fn augment(images: &Tensor, settings: &Augmentation, seed: u64) -> Result<Tensor> {
    settings.check()?;
    let (n, h, w, _) = images.nhwc()?;
    // The transforms are drawn one after the other from one generator, so they do not depend
    // on how the resampling below is shared out among threads.
    let mut rng = StdRng::seed_from_u64(seed);
    let inverses = (0..n).map(|_| settings.draw(h, w, &mut rng).inverse()).collect::<Result<Vec<_>>>()?;
    resample_batch(images, &inverses)
}

/// [`augment`] for one training step: the seed is derived from `seed`, `epoch` and `step` with
/// [`batch_seed`], so every batch of every epoch gets fresh variants, and a rerun with the same
/// seed gets the same ones.
///
/// Call it on each mini-batch just before the forward pass (only on training data: validation
/// and test images are judged as they are).
pub fn augment_batch(
    x: &Tensor,
    settings: &Augmentation,
    seed: u64,
    epoch: usize,
    step: usize,
) -> Result<Tensor> {
    augment(x, settings, batch_seed(seed, epoch, step))
}

/// [`augment_batch`] as a change to every training batch of a run seeded with `seed`, for
/// [`FitExtras::transform`](crate::train::FitExtras::transform).
pub fn augmenter<'a>(settings: Augmentation, seed: u64) -> crate::train::BatchTransform<'a> {
    Box::new(move |x, epoch, step| augment_batch(x, &settings, seed, epoch, step))
}

/// The seed [`augment_batch`] uses for `step` of `epoch` of a run seeded with `seed`.
///
/// Each input is stirred in with SplitMix64's mixer, so neighbouring epochs and steps get
/// unrelated seeds (`seed + epoch + step` would give epoch 1, step 0 the variants of epoch 0,
/// step 1).
pub fn batch_seed(seed: u64, epoch: usize, step: usize) -> u64 {
    mix(mix(mix(seed) ^ epoch as u64) ^ step as u64)
}

/// SplitMix64's finaliser: a bijection on `u64` that scatters nearby inputs far apart.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The picture for the chapter: one image `(1, H, W, C)` followed by `count` random variants
/// of it ([`augment`] with `seed`), as a grid of tiles enlarged 4 times, 8 to a row, 2 pixels
/// apart ([`picture::grid`]). Write it with [`picture::write_png`].
///
/// Values are shown clamped to 0..1 (black to white); an image of several channels is shown as
/// the mean of its channels.
///
/// Fails with [`Error::Shape`] if `image` is not one 4-D image, [`Error::Geometry`] for
/// settings out of range, and [`Error::Image`] if the picture would be empty or too large.
pub fn sample_sheet(image: &Tensor, settings: &Augmentation, count: usize, seed: u64) -> Result<Rgb> {
    let (n, h, w, c) = image.nhwc()?;
    if n != 1 {
        return Err(Error::shape(format!(
            "a sample sheet shows one image, of shape (1, H, W, C), but got {n} images (shape {:?})",
            image.shape()
        )));
    }
    let per_image = h * w * c;
    if per_image == 0 {
        return Err(Error::image(format!("a sample sheet of a {h}×{w}×{c} image has nothing to draw")));
    }
    // Refuse a sheet too large to draw before making `count` copies of the image.
    if count.checked_add(1).and_then(|tiles| tiles.checked_mul(h * w)).is_none_or(|p| p > picture::MAX_PIXELS)
    {
        return Err(Error::image(format!(
            "a sample sheet of {count} variants of a {h}×{w} image would be larger than the limit of {} pixels",
            picture::MAX_PIXELS
        )));
    }
    let copies = Tensor::concat_batch(&vec![image.clone(); count.max(1)])?;
    let variants = augment(&copies, settings, seed)?;
    let gray = |values: &[f32]| {
        // The mean of each pixel's channels (for one channel, the value itself).
        let pixels = values.chunks_exact(c).map(|p| p.iter().sum::<f32>() / c as f32).collect();
        Gray::new(w, h, pixels)
    };
    let mut tiles = vec![gray(image.data())?];
    // `max(1)` above keeps `concat_batch` from failing on zero parts; `take` drops that copy.
    for values in variants.data().chunks_exact(per_image).take(count) {
        tiles.push(gray(values)?);
    }
    picture::grid(&tiles, 8, 4, 2)
}

/// Resamples image `i` of `images` through `inverses[i]` (output point → source point).
fn resample_batch(images: &Tensor, inverses: &[Affine]) -> Result<Tensor> {
    let (_, h, w, c) = images.nhwc()?;
    let mut out = Tensor::zeros(images.shape())?;
    let per_image = h * w * c;
    if per_image == 0 {
        return Ok(out);
    }
    // Each image is independent: resample them in parallel.
    out.data_mut()
        .par_chunks_mut(per_image)
        .zip(images.data().par_chunks(per_image))
        .zip(inverses.par_iter())
        .for_each(|((dst, src), inverse)| resample(src, dst, h, w, c, inverse));
    Ok(out)
}

/// Rounds `v` to the nearest whole number if it is within a billionth of it.
///
/// Sines and cosines of whole quarter turns are not exact in floating point (cos 90° comes out
/// as 6e-17), so a 90° rotation would land a hair beside the pixel centres and mix in a
/// 1e-16 share of a neighbour. Snapping makes such transforms move pixels exactly; a billionth
/// of a pixel is far below anything a picture can show.
fn snap(v: f64) -> f64 {
    let r = v.round();
    if (v - r).abs() < 1e-9 { r } else { v }
}

// ANCHOR: resample
/// Draws one `h × w × c` image into `dst` by inverse mapping: each output pixel reads `src` at
/// the point `inverse` sends it to, interpolating bilinearly between the four pixels around
/// that point. Pixels outside `src` count as 0 (black).
fn resample(src: &[f32], dst: &mut [f32], h: usize, w: usize, c: usize, inverse: &Affine) {
    // The centre of the image, in pixel indices: (W − 1)/2 is a whole or half number, so
    // `column − cx` and back are exact in floating point.
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    for (row, dst_row) in dst.chunks_exact_mut(w * c).enumerate() {
        for (column, out) in dst_row.chunks_exact_mut(c).enumerate() {
            let (x, y) = inverse.apply(column as f64 - cx, row as f64 - cy);
            let (sx, sy) = (snap(x + cx), snap(y + cy));
            // A point a whole pixel or more outside reads only background (this also catches
            // NaN, for which every comparison is false).
            if !(sx > -1.0 && sx < w as f64 && sy > -1.0 && sy < h as f64) {
                out.fill(0.0);
                continue;
            }
            // The pixel up and to the left of the point, and how far past it the point lies.
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let corners = [
                (y0, x0, (1.0 - fy) * (1.0 - fx)),
                (y0, x0 + 1, (1.0 - fy) * fx),
                (y0 + 1, x0, fy * (1.0 - fx)),
                (y0 + 1, x0 + 1, fy * fx),
            ];
            for (ch, value) in out.iter_mut().enumerate() {
                // Start from −0.0, the exact "nothing yet" of floating point (−0 + v is v for
                // every v, even −0), and skip weights of 0: on a pixel centre the sum is then
                // 1 · v = v, so a move by whole pixels copies values bit for bit. Summing in
                // f64 and rounding once keeps the result within the values averaged.
                let mut sum = -0.0f64;
                for &(r, col, weight) in &corners {
                    let inside = (0..h as isize).contains(&r) && (0..w as isize).contains(&col);
                    if weight != 0.0 && inside {
                        sum += weight * f64::from(src[(r as usize * w + col as usize) * c + ch]);
                    }
                }
                *value = sum as f32;
            }
        }
    }
}
// ANCHOR_END: resample
