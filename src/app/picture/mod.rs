//! Pictures: reading a digit you drew or photographed, turning it into an input the MNIST
//! model understands, and drawing what the network sees (filters, activations, heatmaps) as
//! PNG files you can open.
//!
//! Two picture types are enough:
//!
//! - [`Gray`]: one `f32` per pixel, 0 black and 1 white, what a network reads and produces
//!   (an activation map is a grey picture, one per channel);
//! - [`Rgb`]: three bytes per pixel, what a PNG file shows (grids of tiles, coloured heatmaps).
//!
//! Both are row-major: pixel `(x, y)` (column `x`, row `y`) lives at `y * width + x`.
//!
//! [`read_image`] reads PNG (every colour type and bit depth) and PGM (binary `P5` and ASCII
//! `P2`), recognised by their first bytes, not by the file name. Like the IDX reader, it never
//! trusts a header: a file announcing more pixels than it holds, or more than [`MAX_PIXELS`],
//! gives an [`Error::Image`] before anything large is allocated, never a panic.
//!
//! ```
//! use convnets::picture::{Gray, to_mnist};
//!
//! // A dark vertical stroke on white paper, 40 wide and 60 high: a "1".
//! let mut paper = Gray::new(40, 60, vec![1.0; 40 * 60]).unwrap();
//! for y in 10..50 {
//!     for x in 17..23 {
//!         paper.pixels[y * 40 + x] = 0.0;
//!     }
//! }
//! let input = to_mnist(&paper).unwrap();
//! assert_eq!(input.shape(), &[1, 28, 28, 1]);
//! // MNIST digits are white on black: the corner is black now, the centre white.
//! assert_eq!(input.get(&[0, 0, 0, 0]), Some(0.0));
//! assert!(input.get(&[0, 14, 14, 0]).unwrap() > 0.9);
//! ```

pub mod font;
mod read;
mod sheet;
mod to_mnist;

use std::path::Path;

pub use read::{decode_image, read_image};
pub use sheet::{Legend, Sheet, colour_bar};
pub use to_mnist::to_mnist;

use crate::error::{Error, ImageError, Result};
use crate::tensor::Tensor;

/// The most pixels a picture may have: 2^26, e.g. 8192 × 8192.
///
/// A file whose header announces more is refused before any pixel buffer is allocated, so a
/// corrupt or hostile file cannot make the program ask for gigabytes. The same limit bounds the
/// pictures [`grid`] and [`heatmap_overlay`] draw.
pub const MAX_PIXELS: usize = 1 << 26;

/// The colour of the lines between and around the tiles of a [`grid`]: a dark blue, visible
/// against both black and white tiles and never mistaken for a grey pixel value.
const SEPARATOR: [u8; 3] = [40, 70, 140];

/// A grey picture: one `f32` per pixel, row-major, nominally 0 (black) to 1 (white).
///
/// Values outside 0..1 are allowed (an activation map can hold anything); [`Gray::normalized`]
/// scales any map into 0..1, and the drawing functions clamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Gray {
    /// Number of columns.
    pub width: usize,
    /// Number of rows.
    pub height: usize,
    /// `width * height` values, row by row: pixel `(x, y)` is `pixels[y * width + x]`.
    pub pixels: Vec<f32>,
}

/// A colour picture: three bytes (red, green, blue; 0..=255) per pixel, row-major.
///
/// This is what [`write_png`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    /// Number of columns.
    pub width: usize,
    /// Number of rows.
    pub height: usize,
    /// `width * height` colours, row by row: pixel `(x, y)` is `pixels[y * width + x]`.
    pub pixels: Vec<[u8; 3]>,
}

impl Gray {
    /// A grey picture of `width × height` pixels, given row by row.
    ///
    /// Fails with [`Error::Shape`] if `pixels` does not hold exactly `width * height` values.
    pub fn new(width: usize, height: usize, pixels: Vec<f32>) -> Result<Gray> {
        let gray = Gray { width, height, pixels };
        gray.check()?;
        Ok(gray)
    }

    /// The `H × W` map of one channel of one sample of an NHWC tensor `(N, H, W, C)`: how a
    /// feature map of a conv layer becomes a picture (one picture per filter).
    ///
    /// Fails with [`Error::Shape`] if the tensor is not 4-D or `sample`/`channel` is out of range.
    pub fn from_tensor_channel(t: &Tensor, sample: usize, channel: usize) -> Result<Gray> {
        let (n, h, w, c) = t.nhwc()?;
        if sample >= n {
            return Err(Error::shape(format!("sample {sample} is outside a batch of {n}")));
        }
        if channel >= c {
            return Err(Error::shape(format!("channel {channel} is outside a tensor of {c} channels")));
        }
        let data = t.data();
        // Element (sample, y, x, channel) lives at ((sample * H + y) * W + x) * C + channel:
        // consecutive pixels of one channel are C values apart.
        let first = sample * h * w;
        let pixels = (first..first + h * w).map(|i| data[i * c + channel]).collect();
        Ok(Gray { width: w, height: h, pixels })
    }

    /// The picture min-max scaled to 0..1: the darkest pixel becomes 0, the brightest 1.
    ///
    /// This is how an activation map is shown: only the contrast inside the map matters, not
    /// its absolute values. A constant map becomes all 0.5: it has no contrast, so there is
    /// nothing to show, and a flat mid-grey says so (rather than dividing by a zero range).
    /// NaN pixels stay NaN (and are drawn black).
    pub fn normalized(&self) -> Gray {
        // `f32::min`/`max` skip NaN, so one NaN does not poison the range.
        let lo = self.pixels.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = self.pixels.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let range = hi - lo;
        let pixels = if range > 0.0 && range.is_finite() {
            self.pixels.iter().map(|&v| (v - lo) / range).collect()
        } else {
            vec![0.5; self.pixels.len()]
        };
        Gray { width: self.width, height: self.height, pixels }
    }

    // ANCHOR: resized
    /// The picture resampled to `width × height` with a bilinear (triangle) filter.
    ///
    /// Pixel centres are aligned as TensorFlow's `tf.image.resize(..., "bilinear")` aligns them
    /// (`align_corners=False`, half-pixel centres): output pixel `o` samples the source at
    /// `(o + 0.5) · in/out − 0.5`, and positions past the edge repeat the edge pixel. Enlarging
    /// is therefore plain bilinear interpolation (how a 3 × 3 heatmap becomes 28 × 28).
    ///
    /// Shrinking widens the triangle to span `in/out` source pixels each side, so every source
    /// pixel contributes (as `antialias=True` in TensorFlow, or PIL's bilinear resize): plain
    /// bilinear would read only 4 of the thousands of pixels a photo squeezes into one, and a
    /// thin pen stroke could vanish between them.
    ///
    /// An empty picture (0 pixels) resizes to a black one.
    pub fn resized(&self, width: usize, height: usize) -> Gray {
        if self.width == 0 || self.height == 0 || self.pixels.len() != self.width * self.height {
            return Gray { width, height, pixels: vec![0.0; width * height] };
        }
        // The filter is separable: resample each row to the new width, then each column of
        // that to the new height.
        let across = tent_weights(self.width, width);
        let down = tent_weights(self.height, height);
        let mut rows = vec![0.0f32; self.height * width]; // (self.height, width)
        for (src_row, dst_row) in self.pixels.chunks_exact(self.width).zip(rows.chunks_exact_mut(width)) {
            for (dst, (first, weights)) in dst_row.iter_mut().zip(&across) {
                *dst = weights.iter().zip(&src_row[*first..]).map(|(w, v)| w * v).sum();
            }
        }
        let mut pixels = vec![0.0f32; height * width]; // (height, width)
        for (dst_row, (first, weights)) in pixels.chunks_exact_mut(width).zip(&down) {
            for (i, w) in weights.iter().enumerate() {
                let src_row = &rows[(first + i) * width..][..width];
                for (dst, v) in dst_row.iter_mut().zip(src_row) {
                    *dst += w * v;
                }
            }
        }
        Gray { width, height, pixels }
    }
    // ANCHOR_END: resized

    /// Checks that `pixels` holds `width * height` values (the fields are public, so a picture
    /// built by hand may not).
    fn check(&self) -> Result<()> {
        check_size(self.width, self.height, self.pixels.len())
    }
}

/// Checks that a `width × height` picture has `len` pixels.
fn check_size(width: usize, height: usize, len: usize) -> Result<()> {
    match width.checked_mul(height) {
        Some(n) if n == len => Ok(()),
        _ => Err(Error::shape(format!(
            "a {width}×{height} picture holds {} pixels, not {len}",
            width.saturating_mul(height)
        ))),
    }
}

impl Rgb {
    /// Checks that `pixels` holds `width * height` colours.
    fn check(&self) -> Result<()> {
        check_size(self.width, self.height, self.pixels.len())
    }
}

/// For each of `dst_len` output positions along one axis: the first source index it reads and
/// the weights of the source pixels from there on (they sum to 1). `src_len` must be > 0.
fn tent_weights(src_len: usize, dst_len: usize) -> Vec<(usize, Vec<f32>)> {
    // Source pixels per output pixel. In source coordinates pixel i covers [i, i + 1), so its
    // centre is i + 0.5, and output pixel o is centred at (o + 0.5) · scale.
    let scale = src_len as f64 / dst_len as f64;
    // The triangle's half-width in source pixels: 1 when enlarging (plain bilinear: the two
    // nearest pixels), `scale` when shrinking (every pixel under the output pixel).
    let support = scale.max(1.0);
    (0..dst_len)
        .map(|o| {
            let centre = (o as f64 + 0.5) * scale;
            let first = (centre - support).floor().max(0.0) as usize;
            let end = ((centre + support).ceil() as usize).min(src_len);
            let raw: Vec<f64> =
                (first..end).map(|i| (1.0 - ((i as f64 + 0.5 - centre) / support).abs()).max(0.0)).collect();
            // Near an edge part of the triangle falls outside the picture; dividing by the sum
            // of what is inside is what repeats the edge pixel. The nearest pixel is at most
            // half a pixel away, so the sum is at least 0.5.
            let sum: f64 = raw.iter().sum();
            (first, raw.iter().map(|w| (w / sum) as f32).collect())
        })
        .collect()
}

/// A grey value (clamped to 0..1; NaN is black) as a byte.
fn to_byte(v: f32) -> u8 {
    if v > 0.0 { (v.min(1.0) * 255.0).round() as u8 } else { 0 }
}

/// `a · b` pixels as a checked count within [`MAX_PIXELS`].
fn checked_canvas(width: Option<usize>, height: Option<usize>, what: &str) -> Result<usize> {
    match (width, height) {
        (Some(w), Some(h)) if w.checked_mul(h).is_some_and(|n| n <= MAX_PIXELS) => Ok(w * h),
        _ => Err(Error::image(format!("{what} would be larger than the limit of {MAX_PIXELS} pixels"))),
    }
}

/// Copies a `width × height` block of colours into `out` at `(left, top)`, each colour
/// enlarged to a `scale × scale` square (nearest neighbour: no blur, so pixels stay visible).
fn paste_enlarged(out: &mut Rgb, colours: &[[u8; 3]], width: usize, scale: usize, left: usize, top: usize) {
    for (y, row) in colours.chunks_exact(width).enumerate() {
        for dy in 0..scale {
            let start = (top + y * scale + dy) * out.width + left;
            let line = &mut out.pixels[start..start + width * scale];
            for (block, &colour) in line.chunks_exact_mut(scale).zip(row) {
                block.fill(colour);
            }
        }
    }
}

/// Lays grey tiles out in a grid, as the book shows the 32 feature maps of a conv layer.
///
/// Each tile is shown in grey (values clamped to 0..1: call [`Gray::normalized`] first for
/// activation maps) and enlarged `scale` times, each pixel becoming a `scale × scale` block.
/// `gap` pixels of dark blue separate the tiles and frame the grid. Tiles fill the rows left to
/// right, `columns` to a row (fewer if there are fewer tiles), so the picture is
/// `gap + columns · (tile width · scale + gap)` pixels wide, and as high with the row count.
///
/// Fails with [`Error::Image`] for no tiles, zero columns, zero scale, empty tiles or a picture
/// larger than [`MAX_PIXELS`], and with [`Error::Shape`] if the tiles differ in size.
pub fn grid(tiles: &[Gray], columns: usize, scale: usize, gap: usize) -> Result<Rgb> {
    let first = tiles.first().ok_or_else(|| Error::image("a grid needs at least one tile"))?;
    if columns == 0 {
        return Err(Error::image("a grid needs at least one column"));
    }
    if scale == 0 {
        return Err(Error::image("a grid cannot enlarge tiles 0 times (scale must be at least 1)"));
    }
    let (tile_w, tile_h) = (first.width, first.height);
    if tile_w == 0 || tile_h == 0 {
        return Err(Error::image(format!("grid tiles are {tile_w}×{tile_h}: there is nothing to draw")));
    }
    for (i, tile) in tiles.iter().enumerate() {
        tile.check()?;
        if (tile.width, tile.height) != (tile_w, tile_h) {
            return Err(Error::shape(format!(
                "grid tile {i} is {}×{}, but tile 0 is {tile_w}×{tile_h}: all tiles must be the same size",
                tile.width, tile.height
            )));
        }
    }
    let columns = columns.min(tiles.len());
    let rows = tiles.len().div_ceil(columns);
    // Each cell is a scaled tile plus the gap after it; one more gap starts the row.
    let cell = |tile: usize, count: usize| {
        tile.checked_mul(scale)?.checked_add(gap)?.checked_mul(count)?.checked_add(gap)
    };
    let (width, height) = (cell(tile_w, columns), cell(tile_h, rows));
    let count = checked_canvas(width, height, "the grid")?;
    let (width, height) = (width.unwrap_or(0), height.unwrap_or(0));
    let mut out = Rgb { width, height, pixels: vec![SEPARATOR; count] };
    for (i, tile) in tiles.iter().enumerate() {
        let colours: Vec<[u8; 3]> = tile.pixels.iter().map(|&v| [to_byte(v); 3]).collect();
        let left = gap + (i % columns) * (tile_w * scale + gap);
        let top = gap + (i / columns) * (tile_h * scale + gap);
        paste_enlarged(&mut out, &colours, tile_w, scale, left, top);
    }
    Ok(out)
}

/// Grey from black (0) to white (1), values outside clamped: the colour scale of feature maps,
/// filters and patterns.
pub fn grey(t: f32) -> [u8; 3] {
    [to_byte(t); 3]
}

// ANCHOR: jet
/// The "jet" colormap: 0 dark blue, then blue, cyan, yellow, red, and 1 dark red.
///
/// Each channel is a trapezoid over 0..1 (red rises last, blue falls first), so hot places
/// stand out in red against a cold blue background.
pub fn jet(t: f32) -> [u8; 3] {
    let t = if t > 0.0 { t.min(1.0) } else { 0.0 };
    let channel = |centre: f32| to_byte(1.5 - (4.0 * t - centre).abs());
    [channel(3.0), channel(2.0), channel(1.0)]
}
// ANCHOR_END: jet

/// Shows a heatmap (e.g. class activation, values in 0..1) over the grey digit it explains:
/// each pixel is half the digit's grey and half the heat's [`jet`] colour, enlarged `scale`
/// times by nearest neighbour.
///
/// Resize a coarse heatmap to the digit's size first ([`Gray::resized`], e.g. 3 × 3 to
/// 28 × 28). Fails with [`Error::Shape`] if the two pictures differ in size and with
/// [`Error::Image`] if they are empty, `scale` is 0 or the result is larger than [`MAX_PIXELS`].
pub fn heatmap_overlay(digit: &Gray, heat: &Gray, scale: usize) -> Result<Rgb> {
    digit.check()?;
    heat.check()?;
    if (digit.width, digit.height) != (heat.width, heat.height) {
        return Err(Error::shape(format!(
            "the heatmap is {}×{} but the digit {}×{}: resize the heatmap to the digit's size",
            heat.width, heat.height, digit.width, digit.height
        )));
    }
    if digit.pixels.is_empty() {
        return Err(Error::image("a heatmap over an empty (0-pixel) picture has nothing to show"));
    }
    if scale == 0 {
        return Err(Error::image("an overlay cannot be enlarged 0 times (scale must be at least 1)"));
    }
    let width = digit.width.checked_mul(scale);
    let height = digit.height.checked_mul(scale);
    let count = checked_canvas(width, height, "the overlay")?;
    let colours: Vec<[u8; 3]> = digit
        .pixels
        .iter()
        .zip(&heat.pixels)
        .map(|(&d, &h)| {
            let grey = u16::from(to_byte(d));
            // Average in u16 (the sum of two bytes does not fit a byte), rounding halves up.
            jet(h).map(|c| (u16::from(c) + grey).div_ceil(2) as u8)
        })
        .collect();
    let mut out = Rgb { width: width.unwrap_or(0), height: height.unwrap_or(0), pixels: vec![[0; 3]; count] };
    paste_enlarged(&mut out, &colours, digit.width, scale, 0, 0);
    Ok(out)
}

/// Writes a colour picture as an 8-bit RGB PNG file.
///
/// The file is written next to `path` with `.tmp` appended, then renamed over `path`, so a
/// crash halfway never leaves a half-written picture under the real name.
///
/// Fails with [`Error::Image`] if the folder does not exist, the picture is empty or too large
/// for PNG, or the file cannot be written; with [`Error::Shape`] if `pixels` does not hold
/// `width * height` colours.
pub fn write_png(path: &Path, image: &Rgb) -> Result<()> {
    image.check()?;
    let bytes: Vec<u8> = image.pixels.iter().flatten().copied().collect();
    let png = encode_png(image.width, image.height, png::ColorType::Rgb, &bytes, &path.display())?;
    write_atomically(path, &png)
}

/// A colour picture encoded as an 8-bit PNG file in memory, e.g. to send over HTTP: quickly
/// (light compression), and as greyscale when every pixel is grey, which is a third of the
/// data.
///
/// Fails as [`write_png`] does for an empty or malformed picture.
pub fn png_bytes(image: &Rgb) -> Result<Vec<u8>> {
    image.check()?;
    let (color, bytes): (_, Vec<u8>) = if image.pixels.iter().all(|&[r, g, b]| r == g && g == b) {
        (png::ColorType::Grayscale, image.pixels.iter().map(|p| p[0]).collect())
    } else {
        (png::ColorType::Rgb, image.pixels.iter().flatten().copied().collect())
    };
    let mut png = Vec::new();
    let mut encoder = png_encoder(&mut png, image.width, image.height, color, &"a picture")?;
    encoder.set_compression(png::Compression::Fast);
    write_samples(encoder, &bytes, &"a picture")?;
    Ok(png)
}

/// Writes a grey picture (clamped to 0..1) as an 8-bit greyscale PNG file, the same way as
/// [`write_png`].
pub fn write_gray_png(path: &Path, image: &Gray) -> Result<()> {
    image.check()?;
    let bytes: Vec<u8> = image.pixels.iter().map(|&v| to_byte(v)).collect();
    let png = encode_png(image.width, image.height, png::ColorType::Grayscale, &bytes, &path.display())?;
    write_atomically(path, &png)
}

/// Encodes 8-bit samples as a PNG file in memory.
fn encode_png(
    width: usize,
    height: usize,
    color: png::ColorType,
    samples: &[u8],
    name: &dyn std::fmt::Display,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let encoder = png_encoder(&mut bytes, width, height, color, name)?;
    write_samples(encoder, samples, name)?;
    Ok(bytes)
}

/// A PNG encoder of 8-bit `color` samples into `out`.
fn png_encoder<'a>(
    out: &'a mut Vec<u8>,
    width: usize,
    height: usize,
    color: png::ColorType,
    name: &dyn std::fmt::Display,
) -> Result<png::Encoder<'static, &'a mut Vec<u8>>> {
    let size = |n: usize| u32::try_from(n).ok().filter(|&n| n > 0);
    let (Some(w), Some(h)) = (size(width), size(height)) else {
        return Err(Error::image(format!("{name}: a PNG cannot be {width}×{height} pixels")));
    };
    let mut encoder = png::Encoder::new(out, w, h);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    Ok(encoder)
}

/// Writes the header and the samples.
fn write_samples(
    encoder: png::Encoder<'_, &mut Vec<u8>>,
    samples: &[u8],
    name: &dyn std::fmt::Display,
) -> Result<()> {
    let failed = |e: png::EncodingError| Error::image(format!("{name} cannot be encoded as PNG: {e}"));
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(samples).map_err(failed)?;
    writer.finish().map_err(failed)
}

/// Writes `bytes` to `path` as a model is saved: through a new temporary file, flushed and
/// renamed over `path` ([`crate::save::write_atomically`]).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::save::write_atomically(path, |file| std::io::Write::write_all(file, bytes)).map_err(|e| {
        Error::Image(ImageError::Write {
            name: path.display().to_string(),
            kind: e.kind(),
            message: e.to_string(),
        })
    })
}
