//! Reading pictures from PNG and PGM files, without trusting their headers.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use super::{Gray, MAX_PIXELS};
use crate::error::{Error, ImageError, Result};

/// The largest file [`read_image`] reads into memory. A PGM in ASCII of [`MAX_PIXELS`] pixels
/// needs at most 6 bytes a pixel (`65535 `), so no sensible picture file is larger.
const MAX_FILE_BYTES: u64 = 512 << 20;

/// The eight bytes every PNG file starts with.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

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
    let cannot_read = |e: std::io::Error| {
        Error::Image(ImageError::Read { name: name.clone(), kind: e.kind(), message: e.to_string() })
    };
    let file = File::open(path).map_err(cannot_read)?;
    let len = file.metadata().map_err(cannot_read)?.len();
    if len > MAX_FILE_BYTES {
        return Err(Error::Image(ImageError::FileTooLarge { name, bytes: len, max_pixels: MAX_PIXELS }));
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
        [] => Err(Error::Image(ImageError::Empty { name: name.into() })),
        _ if bytes.starts_with(&PNG_SIGNATURE) => decode_png(bytes, name),
        [b'P', b'2' | b'5', ..] => decode_pgm(bytes, name),
        [b'P', kind @ b'1'..=b'7', ..] => Err(format_error(
            name,
            format!(
                "a Netpbm file of kind P{}: only grey PGM (P2, P5) is read; save it as PGM or PNG",
                char::from(*kind)
            ),
        )),
        [0xff, 0xd8, 0xff, ..] => {
            Err(format_error(name, "a JPEG file: only PNG and PGM are read; convert it to PNG first".into()))
        }
        _ => {
            let start: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            Err(format_error(
                name,
                format!("neither PNG nor PGM (it starts with the bytes {})", start.join(" ")),
            ))
        }
    }
}

/// Refuses a size of zero or of more than [`MAX_PIXELS`] pixels, and returns the pixel count.
fn checked_size(width: usize, height: usize, name: &str) -> Result<usize> {
    if width == 0 || height == 0 {
        return Err(Error::Image(ImageError::NoPixels { name: name.into(), width, height }));
    }
    match width.checked_mul(height) {
        Some(n) if n <= MAX_PIXELS => Ok(n),
        _ => Err(Error::Image(ImageError::TooManyPixels {
            name: name.into(),
            width,
            height,
            limit: MAX_PIXELS,
        })),
    }
}

/// Decodes a PNG file with the `png` crate.
fn decode_png(bytes: &[u8], name: &str) -> Result<Gray> {
    let bad_png = |e: png::DecodingError| corrupt(name, format!("truncated or corrupt PNG: {e}"));
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    // Expand palettes, grey of 1, 2 or 4 bits and transparency chunks, and strip 16-bit
    // samples to 8: whatever the file holds, what comes out is 8-bit grey or RGB, with or
    // without alpha.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    // The header alone tells the size: refuse a huge picture before allocating its buffer.
    let header = decoder.read_header_info().map_err(bad_png)?;
    let (header_width, header_height) = (header.width as usize, header.height as usize);
    checked_size(header_width, header_height, name)?;
    let mut reader = decoder.read_info().map_err(bad_png)?;
    let size = reader.output_buffer_size().ok_or_else(|| {
        Error::Image(ImageError::TooManyPixels {
            name: name.into(),
            width: header_width,
            height: header_height,
            limit: MAX_PIXELS,
        })
    })?;
    let mut buffer = vec![0u8; size];
    let frame = reader.next_frame(&mut buffer).map_err(bad_png)?;
    let (width, height) = (frame.width as usize, frame.height as usize);
    let channels = match (frame.color_type, frame.bit_depth) {
        (png::ColorType::Grayscale, png::BitDepth::Eight) => 1,
        (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight) => 2,
        (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
        (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
        (color, depth) => {
            return Err(Error::image(format!("{name}: the PNG decoder gave {color:?} at {depth:?}")));
        }
    };
    let mut pixels = Vec::with_capacity(checked_size(width, height, name)?);
    for y in 0..height {
        let row = buffer
            .get(y * frame.line_size..)
            .and_then(|rest| rest.get(..width * channels))
            .ok_or_else(|| Error::image(format!("{name}: the PNG decoder gave fewer rows than {height}")))?;
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
        return Err(corrupt(name, format!("corrupt PGM: maxval {maxval} is not in 1..=65535")));
    }
    if width == 0 || height == 0 {
        return Err(Error::Image(ImageError::NoPixels { name: name.into(), width, height }));
    }
    // In P5 exactly one whitespace byte separates the maxval from the raster (the raster may
    // start with a byte that looks like whitespace, so no more may be skipped). In P2 the
    // samples are numbers separated by any whitespace, read one by one below.
    if !ascii {
        match bytes.get(pos) {
            Some(b) if b.is_ascii_whitespace() => pos += 1,
            Some(b'#') => skip_comment(bytes, &mut pos),
            Some(b) => {
                return Err(corrupt(
                    name,
                    format!("corrupt PGM: byte {pos} after the maxval is {b:#04x}, not whitespace"),
                ));
            }
            None => return Err(truncated(name, "it ends after its header".into())),
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
        return Err(truncated(
            name,
            format!(
                "its header says {width}×{height} pixels, which need at least {needed} bytes, but only {rest} follow"
            ),
        ));
    }
    let count = checked_size(width, height, name)?;
    let white = maxval as f32;
    let too_bright = |i: usize, v: usize| {
        corrupt(name, format!("corrupt PGM: pixel {i} is {v}, above the maxval {maxval}"))
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
        return Err(truncated(name, format!("its PGM header ends before the {what}")));
    }
    let at = *pos;
    let value = decimal(bytes, pos)
        .ok_or_else(|| corrupt(name, format!("corrupt PGM: expected the {what} at byte {at}")))?;
    match bytes.get(*pos) {
        Some(b) if b.is_ascii_whitespace() || *b == b'#' => Ok(value),
        Some(b) => Err(corrupt(
            name,
            format!("corrupt PGM: the {what} is followed by byte {b:#04x}, not whitespace"),
        )),
        None => Err(truncated(name, "it ends inside its PGM header".into())),
    }
}

/// Reads sample `i` of `count` of an ASCII (`P2`) raster.
fn sample_number(bytes: &[u8], pos: &mut usize, name: &str, i: usize, count: usize) -> Result<usize> {
    skip_space(bytes, pos);
    match bytes.get(*pos) {
        None => Err(truncated(name, format!("it holds {i} of its {count} pixels"))),
        Some(b) if !b.is_ascii_digit() => {
            Err(corrupt(name, format!("corrupt PGM: byte {} ({b:#04x}) is not a digit", *pos)))
        }
        Some(_) => Ok(decimal(bytes, pos).unwrap_or(0)),
    }
}

/// The error for a file of another format than PNG or grey PGM: `what` it is instead.
fn format_error(name: &str, what: String) -> Error {
    Error::Image(ImageError::Format { name: name.into(), what })
}

/// The error for a file that ends too early: `what` is missing.
fn truncated(name: &str, what: String) -> Error {
    Error::Image(ImageError::Truncated { name: name.into(), what })
}

/// The error for a damaged file: `what` is wrong, starting with the format.
fn corrupt(name: &str, what: String) -> Error {
    Error::Image(ImageError::Corrupt { name: name.into(), what })
}
