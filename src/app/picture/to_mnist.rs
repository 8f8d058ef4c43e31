//! Preparing any picture of a digit the way MNIST's digits were prepared.

use super::Gray;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The side of an MNIST picture.
const MNIST_SIDE: usize = 28;

/// The side of the box an MNIST digit was scaled to fit, before it was centred in 28 × 28.
const MNIST_DIGIT_BOX: usize = 20;

/// Brightness (after inversion, on 0..1) above which a pixel counts as ink in [`to_mnist`]:
/// high enough to ignore the grey of paper in a photo, low enough to keep a pencil stroke.
const INK_THRESHOLD: f32 = 0.2;

// ANCHOR: to_mnist
/// Turns a grey picture of one digit into what the MNIST model reads: a `(1, 28, 28, 1)`
/// tensor with values in 0..1, a white digit on black, prepared the way MNIST itself was.
///
/// 1. **Invert** if the border of the picture is brighter than 0.5 on average: a dark digit on
///    paper. MNIST digits are white (1) on black (0).
/// 2. **Find the ink**: pixels brighter than 0.2, so the grey of paper in a photo is not ink;
///    stretch the levels so that 0.2 becomes 0 and the brightest ink 1, as in MNIST, where
///    the background is exactly 0 and strokes reach full white. Crop to the ink's bounding box.
/// 3. **Scale** the crop so its longer side is 20 pixels, keeping its aspect ratio (MNIST
///    digits were fitted to a 20 × 20 box).
/// 4. **Centre** it in a 28 × 28 black canvas so its centre of mass (brightness-weighted)
///    lands on the centre of the canvas, shifting by whole pixels, and never so far that part of
///    the digit would fall off the canvas.
///
/// A picture with no ink at all is simply resized to 28 × 28 (after the inversion), so a blank
/// page gives a blank input rather than an error.
///
/// Fails with [`Error::Image`] for an empty (0-pixel) picture, [`Error::Shape`] if `pixels`
/// does not hold `width * height` values.
pub fn to_mnist(image: &Gray) -> Result<Tensor> {
    image.check()?;
    if image.pixels.is_empty() {
        return Err(Error::image("an empty picture (0 pixels) holds no digit"));
    }
    let (width, height) = (image.width, image.height);
    // Values outside 0..1 (or NaN) carry no meaning for a photo: clamp them (NaN to black).
    let mut ink: Vec<f32> = image.pixels.iter().map(|&v| if v > 0.0 { v.min(1.0) } else { 0.0 }).collect();

    // 1. Paper is bright: a bright border means a dark digit on paper.
    let (mut border_sum, mut border_count) = (0.0f64, 0usize);
    for y in 0..height {
        for x in 0..width {
            if x == 0 || y == 0 || x == width - 1 || y == height - 1 {
                border_sum += f64::from(ink[y * width + x]);
                border_count += 1;
            }
        }
    }
    if border_sum / border_count as f64 > 0.5 {
        ink.iter_mut().for_each(|v| *v = 1.0 - *v);
    }

    // 2. The ink's bounding box (inclusive) and its brightest value.
    let mut bounds: Option<(usize, usize, usize, usize)> = None; // (x0, y0, x1, y1)
    let mut peak = 0.0f32;
    for (i, &v) in ink.iter().enumerate() {
        if v > INK_THRESHOLD {
            let (x, y) = (i % width, i / width);
            peak = peak.max(v);
            bounds = Some(match bounds {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            });
        }
    }
    let Some((x0, y0, x1, y1)) = bounds else {
        let blank = Gray { width, height, pixels: ink }.resized(MNIST_SIDE, MNIST_SIDE);
        return Tensor::new(&[1, MNIST_SIDE, MNIST_SIDE, 1], blank.pixels);
    };
    let (crop_w, crop_h) = (x1 - x0 + 1, y1 - y0 + 1);
    let mut crop = Vec::with_capacity(crop_w * crop_h);
    for y in y0..=y1 {
        crop.extend(ink[y * width + x0..=y * width + x1].iter().map(|&v| {
            // `peak > INK_THRESHOLD` since some pixel passed the threshold.
            ((v - INK_THRESHOLD) / (peak - INK_THRESHOLD)).clamp(0.0, 1.0)
        }));
    }

    // 3. Longer side to 20 pixels, the other in proportion (at least 1).
    let longer = crop_w.max(crop_h) as f64;
    let side = |n: usize| ((n as f64 * MNIST_DIGIT_BOX as f64 / longer).round() as usize).max(1);
    let digit = Gray { width: crop_w, height: crop_h, pixels: crop }.resized(side(crop_w), side(crop_h));

    // 4. Centre of mass, in coordinates where pixel i covers [i, i + 1) (the canvas centre is
    // then 14.0). The digit's first pixel goes to `left`, `top` in the canvas.
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &v) in digit.pixels.iter().enumerate() {
        let v = f64::from(v);
        mass += v;
        mx += v * ((i % digit.width) as f64 + 0.5);
        my += v * ((i / digit.width) as f64 + 0.5);
    }
    let centre = MNIST_SIDE as f64 / 2.0;
    let place = |com: f64, len: usize| {
        let free = (MNIST_SIDE - len) as f64; // len <= 20, so the digit always fits
        let offset = if mass > 0.0 { (centre - com / mass).round() } else { (free / 2.0).floor() };
        offset.clamp(0.0, free) as usize
    };
    let (left, top) = (place(mx, digit.width), place(my, digit.height));
    let mut canvas = vec![0.0f32; MNIST_SIDE * MNIST_SIDE];
    for (y, row) in digit.pixels.chunks_exact(digit.width).enumerate() {
        let start = (top + y) * MNIST_SIDE + left;
        for (dst, &v) in canvas[start..start + digit.width].iter_mut().zip(row) {
            *dst = v.clamp(0.0, 1.0);
        }
    }
    Tensor::new(&[1, MNIST_SIDE, MNIST_SIDE, 1], canvas)
}
// ANCHOR_END: to_mnist
