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

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The most pixels a picture may have: 2^26, e.g. 8192 × 8192.
///
/// A file whose header announces more is refused before any pixel buffer is allocated, so a
/// corrupt or hostile file cannot make the program ask for gigabytes. The same limit bounds the
/// pictures [`grid`] and [`heatmap_overlay`] draw.
pub const MAX_PIXELS: usize = 1 << 26;

/// The largest file [`read_image`] reads into memory. A PGM in ASCII of [`MAX_PIXELS`] pixels
/// needs at most 6 bytes a pixel (`65535 `), so no sensible picture file is larger.
const MAX_FILE_BYTES: u64 = 512 << 20;

/// The eight bytes every PNG file starts with.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The side of an MNIST picture.
const MNIST_SIDE: usize = 28;

/// The side of the box an MNIST digit was scaled to fit, before it was centred in 28 × 28.
const MNIST_DIGIT_BOX: usize = 20;

/// Brightness (after inversion, on 0..1) above which a pixel counts as ink in [`to_mnist`]:
/// high enough to ignore the grey of paper in a photo, low enough to keep a pencil stroke.
const INK_THRESHOLD: f32 = 0.2;

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
            return Err(Error::Shape(format!("sample {sample} is outside a batch of {n}")));
        }
        if channel >= c {
            return Err(Error::Shape(format!("channel {channel} is outside a tensor of {c} channels")));
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
        match self.width.checked_mul(self.height) {
            Some(n) if n == self.pixels.len() => Ok(()),
            _ => Err(Error::Shape(format!(
                "a {}×{} picture holds {} pixels, not {}",
                self.width,
                self.height,
                self.width.saturating_mul(self.height),
                self.pixels.len()
            ))),
        }
    }
}

impl Rgb {
    /// Checks that `pixels` holds `width * height` colours.
    fn check(&self) -> Result<()> {
        match self.width.checked_mul(self.height) {
            Some(n) if n == self.pixels.len() => Ok(()),
            _ => Err(Error::Shape(format!(
                "a {}×{} picture holds {} pixels, not {}",
                self.width,
                self.height,
                self.width.saturating_mul(self.height),
                self.pixels.len()
            ))),
        }
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

/// Reads a grey picture from a PNG or PGM file.
///
/// The format is recognised by the file's first bytes, not its name. PNG may be of any colour
/// type and bit depth: colours become grey with the usual luma weights
/// (`0.299 R + 0.587 G + 0.114 B`) and transparent pixels are shown over white paper. PGM may
/// be binary (`P5`, 8- or 16-bit) or ASCII (`P2`), with `#` comments in the header.
///
/// Fails with [`Error::Image`] if the file cannot be read, is of another format (JPEG: convert
/// it to PNG first), is truncated or corrupt, or announces more than [`MAX_PIXELS`] pixels.
pub fn read_image(path: &Path) -> Result<Gray> {
    let name = path.display().to_string();
    let cannot_read = |e: std::io::Error| Error::Image(format!("{name} cannot be read: {e}"));
    let file = File::open(path).map_err(cannot_read)?;
    let len = file.metadata().map_err(cannot_read)?.len();
    if len > MAX_FILE_BYTES {
        return Err(Error::Image(format!(
            "{name} is {len} bytes long, more than any picture of at most {MAX_PIXELS} pixels needs"
        )));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take` guards against a file that grows while it is read.
    file.take(MAX_FILE_BYTES).read_to_end(&mut bytes).map_err(cannot_read)?;
    decode(&bytes, &name)
}

/// [`read_image`] for a file already in memory (e.g. from `include_bytes!`).
///
/// Error messages call it "data" where [`read_image`] names the file.
pub fn decode_image(bytes: &[u8]) -> Result<Gray> {
    decode(bytes, "data")
}

/// Decodes `bytes`, naming them `name` in error messages.
fn decode(bytes: &[u8], name: &str) -> Result<Gray> {
    match bytes {
        [] => Err(Error::Image(format!("{name} is empty"))),
        _ if bytes.starts_with(&PNG_SIGNATURE) => decode_png(bytes, name),
        [b'P', b'2' | b'5', ..] => decode_pgm(bytes, name),
        [b'P', kind @ b'1'..=b'7', ..] => Err(Error::Image(format!(
            "{name} is a Netpbm file of kind P{}: only grey PGM (P2, P5) is read; save it as PGM or PNG",
            char::from(*kind)
        ))),
        [0xff, 0xd8, 0xff, ..] => Err(Error::Image(format!(
            "{name} is a JPEG file: only PNG and PGM are read; convert it to PNG first"
        ))),
        _ => {
            let start: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            Err(Error::Image(format!(
                "{name} is neither PNG nor PGM (it starts with the bytes {})",
                start.join(" ")
            )))
        }
    }
}

/// Refuses a size of zero or of more than [`MAX_PIXELS`] pixels, and returns the pixel count.
fn checked_size(width: usize, height: usize, name: &str) -> Result<usize> {
    if width == 0 || height == 0 {
        return Err(Error::Image(format!("{name} says it is {width}×{height} pixels: an empty picture")));
    }
    match width.checked_mul(height) {
        Some(n) if n <= MAX_PIXELS => Ok(n),
        _ => Err(Error::Image(format!(
            "{name} says it is {width}×{height} pixels, more than the limit of {MAX_PIXELS}"
        ))),
    }
}

/// Decodes a PNG file with the `png` crate.
fn decode_png(bytes: &[u8], name: &str) -> Result<Gray> {
    let corrupt = |e: png::DecodingError| Error::Image(format!("{name} is a truncated or corrupt PNG: {e}"));
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    // Expand palettes, grey of 1, 2 or 4 bits and transparency chunks, and strip 16-bit
    // samples to 8: whatever the file holds, what comes out is 8-bit grey or RGB, with or
    // without alpha.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    // The header alone tells the size: refuse a huge picture before allocating its buffer.
    let header = decoder.read_header_info().map_err(corrupt)?;
    checked_size(header.width as usize, header.height as usize, name)?;
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let size =
        reader.output_buffer_size().ok_or_else(|| Error::Image(format!("{name} is too large to decode")))?;
    let mut buffer = vec![0u8; size];
    let frame = reader.next_frame(&mut buffer).map_err(corrupt)?;
    let (width, height) = (frame.width as usize, frame.height as usize);
    let channels = match (frame.color_type, frame.bit_depth) {
        (png::ColorType::Grayscale, png::BitDepth::Eight) => 1,
        (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight) => 2,
        (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
        (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
        (color, depth) => {
            return Err(Error::Image(format!("{name}: the PNG decoder gave {color:?} at {depth:?}")));
        }
    };
    let mut pixels = Vec::with_capacity(checked_size(width, height, name)?);
    for y in 0..height {
        let row = buffer
            .get(y * frame.line_size..)
            .and_then(|rest| rest.get(..width * channels))
            .ok_or_else(|| Error::Image(format!("{name}: the PNG decoder gave fewer rows than {height}")))?;
        pixels.extend(row.chunks_exact(channels).map(|p| {
            let [r, g, b, a] = match *p {
                [v] => [v, v, v, 255],
                [v, a] => [v, v, v, a],
                [r, g, b] => [r, g, b, 255],
                [r, g, b, a] => [r, g, b, a],
                _ => [0, 0, 0, 255], // chunks_exact gives `channels` (1 to 4) bytes
            };
            let luma = (0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b)) / 255.0;
            let alpha = f32::from(a) / 255.0;
            // Composite over white paper: a fully transparent pixel is blank paper, not ink.
            luma * alpha + (1.0 - alpha)
        }));
    }
    Ok(Gray { width, height, pixels })
}

/// Decodes a PGM file: `P5` (binary) or `P2` (ASCII).
///
/// ```text
/// P5            magic: P5 binary, P2 ASCII
/// # a comment   (from # to the end of the line, anywhere in the header)
/// 28 28         width and height, in ASCII decimal
/// 255           maxval: the value of white, 1 to 65535
/// <pixels>      P5: after one whitespace byte, width·height samples, 1 byte each if
///               maxval < 256, else 2 bytes big-endian. P2: decimal numbers and whitespace.
/// ```
fn decode_pgm(bytes: &[u8], name: &str) -> Result<Gray> {
    let ascii = bytes.get(1) == Some(&b'2');
    let mut pos = 2;
    let width = header_number(bytes, &mut pos, name, "width")?;
    let height = header_number(bytes, &mut pos, name, "height")?;
    let maxval = header_number(bytes, &mut pos, name, "maxval")?;
    if !(1..=65535).contains(&maxval) {
        return Err(Error::Image(format!("{name} is a corrupt PGM: maxval {maxval} is not in 1..=65535")));
    }
    if width == 0 || height == 0 {
        return Err(Error::Image(format!("{name} says it is {width}×{height} pixels: an empty picture")));
    }
    // In P5 exactly one whitespace byte separates the maxval from the raster (the raster may
    // start with a byte that looks like whitespace, so no more may be skipped). In P2 the
    // samples are numbers separated by any whitespace, read one by one below.
    if !ascii {
        match bytes.get(pos) {
            Some(b) if b.is_ascii_whitespace() => pos += 1,
            Some(b'#') => skip_comment(bytes, &mut pos),
            Some(b) => {
                return Err(Error::Image(format!(
                    "{name} is a corrupt PGM: byte {pos} after the maxval is {b:#04x}, not whitespace"
                )));
            }
            None => return Err(Error::Image(format!("{name} is truncated: it ends after its header"))),
        }
    }
    // Before allocating anything, compare what the header promises with what the file holds.
    // P5 needs 1 byte a sample (2 above maxval 255); P2 at least a digit a sample and a
    // separator between samples. Saturating arithmetic: an absurd header just needs "a lot".
    let bytes_per_sample = if maxval < 256 { 1 } else { 2 };
    let promised = width.saturating_mul(height);
    let needed =
        if ascii { promised.saturating_mul(2) - 1 } else { promised.saturating_mul(bytes_per_sample) };
    let rest = bytes.len().saturating_sub(pos);
    if rest < needed {
        return Err(Error::Image(format!(
            "{name} is truncated: its header says {width}×{height} pixels, which need at least {needed} bytes, but only {rest} follow"
        )));
    }
    let count = checked_size(width, height, name)?;
    let white = maxval as f32;
    let too_bright = |i: usize, v: usize| {
        Error::Image(format!("{name} is a corrupt PGM: pixel {i} is {v}, above the maxval {maxval}"))
    };
    let mut pixels = Vec::with_capacity(count);
    if ascii {
        for i in 0..count {
            let v = sample_number(bytes, &mut pos, name, i, count)?;
            if v > maxval {
                return Err(too_bright(i, v));
            }
            pixels.push(v as f32 / white);
        }
    } else {
        for (i, sample) in bytes[pos..pos + needed].chunks_exact(bytes_per_sample).enumerate() {
            let v = match *sample {
                [hi, lo] => usize::from(u16::from_be_bytes([hi, lo])),
                [v] => usize::from(v),
                _ => 0, // chunks_exact gives 1 or 2 bytes
            };
            if v > maxval {
                return Err(too_bright(i, v));
            }
            pixels.push(v as f32 / white);
        }
    }
    Ok(Gray { width, height, pixels })
}

/// Skips whitespace and `#` comments (which run to the end of the line).
fn skip_space(bytes: &[u8], pos: &mut usize) {
    while let Some(&b) = bytes.get(*pos) {
        if b == b'#' {
            skip_comment(bytes, pos);
        } else if b.is_ascii_whitespace() {
            *pos += 1;
        } else {
            break;
        }
    }
}

/// Skips a `#` comment, up to and including the newline that ends it.
fn skip_comment(bytes: &[u8], pos: &mut usize) {
    match bytes.get(*pos..).and_then(|rest| rest.iter().position(|&b| b == b'\n' || b == b'\r')) {
        Some(n) => *pos += n + 1,
        None => *pos = bytes.len(),
    }
}

/// Reads the decimal number at `pos` (if any) and moves past it. `None` if there is no digit
/// there; a number too large for `usize` saturates (every caller then finds it too large).
fn decimal(bytes: &[u8], pos: &mut usize) -> Option<usize> {
    let start = *pos;
    let mut value: usize = 0;
    while let Some(&b) = bytes.get(*pos) {
        if !b.is_ascii_digit() {
            break;
        }
        value = value.saturating_mul(10).saturating_add(usize::from(b - b'0'));
        *pos += 1;
    }
    (*pos > start).then_some(value)
}

/// Reads one number of a PGM header (`what` is its name, for the error message), skipping the
/// whitespace and comments before it; it must be followed by whitespace or a comment.
fn header_number(bytes: &[u8], pos: &mut usize, name: &str, what: &str) -> Result<usize> {
    skip_space(bytes, pos);
    if *pos >= bytes.len() {
        return Err(Error::Image(format!("{name} is truncated: its PGM header ends before the {what}")));
    }
    let at = *pos;
    let value = decimal(bytes, pos)
        .ok_or_else(|| Error::Image(format!("{name} is a corrupt PGM: expected the {what} at byte {at}")))?;
    match bytes.get(*pos) {
        Some(b) if b.is_ascii_whitespace() || *b == b'#' => Ok(value),
        Some(b) => Err(Error::Image(format!(
            "{name} is a corrupt PGM: the {what} is followed by byte {b:#04x}, not whitespace"
        ))),
        None => Err(Error::Image(format!("{name} is truncated: it ends inside its PGM header"))),
    }
}

/// Reads sample `i` of `count` of an ASCII (`P2`) raster.
fn sample_number(bytes: &[u8], pos: &mut usize, name: &str, i: usize, count: usize) -> Result<usize> {
    skip_space(bytes, pos);
    match bytes.get(*pos) {
        None => Err(Error::Image(format!("{name} is truncated: it holds {i} of its {count} pixels"))),
        Some(b) if !b.is_ascii_digit() => {
            Err(Error::Image(format!("{name} is a corrupt PGM: byte {} ({b:#04x}) is not a digit", *pos)))
        }
        Some(_) => Ok(decimal(bytes, pos).unwrap_or(0)),
    }
}

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
        return Err(Error::Image("an empty picture (0 pixels) holds no digit".into()));
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

/// A grey value (clamped to 0..1; NaN is black) as a byte.
fn to_byte(v: f32) -> u8 {
    if v > 0.0 { (v.min(1.0) * 255.0).round() as u8 } else { 0 }
}

/// `a · b` pixels as a checked count within [`MAX_PIXELS`].
fn checked_canvas(width: Option<usize>, height: Option<usize>, what: &str) -> Result<usize> {
    match (width, height) {
        (Some(w), Some(h)) if w.checked_mul(h).is_some_and(|n| n <= MAX_PIXELS) => Ok(w * h),
        _ => Err(Error::Image(format!("{what} would be larger than the limit of {MAX_PIXELS} pixels"))),
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
    let first = tiles.first().ok_or_else(|| Error::Image("a grid needs at least one tile".into()))?;
    if columns == 0 {
        return Err(Error::Image("a grid needs at least one column".into()));
    }
    if scale == 0 {
        return Err(Error::Image("a grid cannot enlarge tiles 0 times (scale must be at least 1)".into()));
    }
    let (tile_w, tile_h) = (first.width, first.height);
    if tile_w == 0 || tile_h == 0 {
        return Err(Error::Image(format!("grid tiles are {tile_w}×{tile_h}: there is nothing to draw")));
    }
    for (i, tile) in tiles.iter().enumerate() {
        tile.check()?;
        if (tile.width, tile.height) != (tile_w, tile_h) {
            return Err(Error::Shape(format!(
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
        return Err(Error::Shape(format!(
            "the heatmap is {}×{} but the digit {}×{}: resize the heatmap to the digit's size",
            heat.width, heat.height, digit.width, digit.height
        )));
    }
    if digit.pixels.is_empty() {
        return Err(Error::Image("a heatmap over an empty (0-pixel) picture has nothing to show".into()));
    }
    if scale == 0 {
        return Err(Error::Image("an overlay cannot be enlarged 0 times (scale must be at least 1)".into()));
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
    let png = encode_png(image.width, image.height, png::ColorType::Rgb, &bytes, path)?;
    write_atomically(path, &png)
}

/// Writes a grey picture (clamped to 0..1) as an 8-bit greyscale PNG file, the same way as
/// [`write_png`].
pub fn write_gray_png(path: &Path, image: &Gray) -> Result<()> {
    image.check()?;
    let bytes: Vec<u8> = image.pixels.iter().map(|&v| to_byte(v)).collect();
    let png = encode_png(image.width, image.height, png::ColorType::Grayscale, &bytes, path)?;
    write_atomically(path, &png)
}

/// Encodes 8-bit samples as a PNG file in memory.
fn encode_png(
    width: usize,
    height: usize,
    color: png::ColorType,
    samples: &[u8],
    path: &Path,
) -> Result<Vec<u8>> {
    let name = path.display();
    let failed = |e: png::EncodingError| Error::Image(format!("{name} cannot be encoded as PNG: {e}"));
    let size = |n: usize| u32::try_from(n).ok().filter(|&n| n > 0);
    let (Some(w), Some(h)) = (size(width), size(height)) else {
        return Err(Error::Image(format!("{name}: a PNG cannot be {width}×{height} pixels")));
    };
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, w, h);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(samples).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(bytes)
}

/// Writes `bytes` to `path` + `.tmp`, then renames that over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(Error::Image(format!(
            "{name} cannot be written: the folder {} does not exist",
            dir.display()
        )));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::Image(format!("{name} cannot be written: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        // Best effort: do not leave the temporary file behind; the rename error is what matters.
        let _ = std::fs::remove_file(&tmp);
        Error::Image(format!("{name} cannot be written: {e}"))
    })
}
