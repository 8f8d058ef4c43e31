//! Pictures: PNG and PGM reading in every flavour, errors (never panics) for bad files, the
//! MNIST preparation of a photographed digit, bilinear resizing checked by hand, and the grid
//! and heatmap drawings used to look inside the model.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use convnets::Error;
use convnets::Tensor;
use convnets::picture::{
    Gray, Rgb, decode_image, grid, heatmap_overlay, jet, read_image, to_mnist, write_gray_png, write_png,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// A fresh path in Cargo's scratch directory for integration tests, unique per call.
fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("picture-{}-{n}-{name}", std::process::id()))
}

/// Encodes samples as a PNG with the `png` crate itself (an independent writer).
fn encode_png(width: u32, height: u32, color: png::ColorType, depth: png::BitDepth, data: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(data).unwrap();
    writer.finish().unwrap();
    bytes
}

/// Decodes a PNG with the `png` crate, untransformed: (width, height, color, depth, samples).
fn decode_png(bytes: &[u8]) -> (u32, u32, png::ColorType, png::BitDepth, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, info.color_type, info.bit_depth, buf)
}

/// A 3×2 grey gradient as a P5 PGM of the given maxval.
fn pgm_p5(maxval: u16) -> (Vec<u8>, Vec<f32>) {
    let samples: Vec<u16> = vec![0, maxval / 3, maxval / 2, maxval - 1, maxval, 1];
    let mut bytes = format!("P5\n# made by hand\n3 2\n{maxval}\n").into_bytes();
    for &s in &samples {
        if maxval < 256 {
            bytes.push(s as u8);
        } else {
            bytes.extend_from_slice(&s.to_be_bytes());
        }
    }
    let expected = samples.iter().map(|&s| f32::from(s) / f32::from(maxval)).collect();
    (bytes, expected)
}

fn assert_close(actual: &[f32], expected: &[f32], atol: f32) {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!((a - e).abs() <= atol, "index {i}: {a} vs {e} (atol {atol})");
    }
}

fn image_error(result: convnets::Result<Gray>) -> String {
    match result {
        Err(Error::Image(message)) => message.to_string(),
        other => panic!("expected an image error, got {other:?}"),
    }
}

// ---- writing PNG ----

#[test]
fn png_round_trip_rgb() {
    let pixels: Vec<[u8; 3]> = (0..5 * 3).map(|i| [i as u8 * 17, 255 - i as u8 * 3, (i * i) as u8]).collect();
    let image = Rgb { width: 5, height: 3, pixels: pixels.clone() };
    let path = temp_path("round-trip.png");
    write_png(&path, &image).unwrap();
    let mut tmp = path.clone().into_os_string();
    tmp.push(".tmp");
    assert!(!PathBuf::from(tmp).exists(), "the temporary file is renamed away");
    let (w, h, color, depth, data) = decode_png(&std::fs::read(&path).unwrap());
    assert_eq!((w, h, color, depth), (5, 3, png::ColorType::Rgb, png::BitDepth::Eight));
    assert_eq!(data, pixels.concat());
}

#[test]
fn gray_png_round_trip_through_read_image() {
    let image = Gray::new(4, 2, vec![0.0, 0.25, 0.5, 1.0, 2.0, -1.0, 0.75, 0.1]).unwrap();
    let path = temp_path("gray.png");
    write_gray_png(&path, &image).unwrap();
    let back = read_image(&path).unwrap();
    assert_eq!((back.width, back.height), (4, 2));
    // Clamped to 0..1 and quantised to 8 bits.
    assert_close(&back.pixels, &[0.0, 0.25, 0.5, 1.0, 1.0, 0.0, 0.75, 0.1], 0.5 / 255.0 + 1e-6);
}

#[test]
fn write_png_into_a_missing_folder_is_an_error() {
    let path = temp_path("no-such-folder").join("out.png");
    let image = Rgb { width: 1, height: 1, pixels: vec![[1, 2, 3]] };
    match write_png(&path, &image) {
        Err(Error::Image(message)) => assert!(message.to_string().contains("does not exist"), "{message}"),
        other => panic!("expected an image error, got {other:?}"),
    }
}

#[test]
fn write_png_refuses_inconsistent_and_empty_pictures() {
    let path = temp_path("bad.png");
    let wrong_length = Rgb { width: 2, height: 2, pixels: vec![[0; 3]; 3] };
    assert!(matches!(write_png(&path, &wrong_length), Err(Error::Shape(_))));
    let empty = Rgb { width: 0, height: 0, pixels: vec![] };
    assert!(matches!(write_png(&path, &empty), Err(Error::Image(_))));
}

// ---- reading PNG and PGM ----

#[test]
fn read_grey_png() {
    let data = [0u8, 64, 128, 255, 10, 200];
    let bytes = encode_png(3, 2, png::ColorType::Grayscale, png::BitDepth::Eight, &data);
    let path = temp_path("grey.png");
    std::fs::write(&path, bytes).unwrap();
    let image = read_image(&path).unwrap();
    assert_eq!((image.width, image.height), (3, 2));
    let expected: Vec<f32> = data.iter().map(|&v| f32::from(v) / 255.0).collect();
    assert_close(&image.pixels, &expected, 1e-6);
}

#[test]
fn read_grey_png_of_16_and_1_bits() {
    // 16-bit: stripped to the high byte.
    let data16 = [0x00, 0x00, 0xff, 0xff, 0x80, 0x00];
    let bytes = encode_png(3, 1, png::ColorType::Grayscale, png::BitDepth::Sixteen, &data16);
    let image = decode_image(&bytes).unwrap();
    assert_close(&image.pixels, &[0.0, 1.0, 128.0 / 255.0], 1e-6);
    // 1-bit: 8 pixels in one byte, 1 is white.
    let bytes = encode_png(8, 1, png::ColorType::Grayscale, png::BitDepth::One, &[0b1010_0000]);
    let image = decode_image(&bytes).unwrap();
    assert_eq!(image.pixels, vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn read_rgba_png_uses_luma_over_white() {
    let data = [
        255, 0, 0, 255, // opaque red: 0.299
        0, 255, 0, 255, // opaque green: 0.587
        0, 0, 255, 255, // opaque blue: 0.114
        0, 0, 0, 0, // transparent black: the white paper shows
        0, 0, 0, 128, // half-transparent black: half grey
        255, 255, 255, 255, // white
    ];
    let bytes = encode_png(3, 2, png::ColorType::Rgba, png::BitDepth::Eight, &data);
    let path = temp_path("rgba.png");
    std::fs::write(&path, bytes).unwrap();
    let image = read_image(&path).unwrap();
    assert_close(&image.pixels, &[0.299, 0.587, 0.114, 1.0, 1.0 - 128.0 / 255.0, 1.0], 1e-5);
}

#[test]
fn read_rgb_and_palette_png() {
    let bytes = encode_png(2, 1, png::ColorType::Rgb, png::BitDepth::Eight, &[255, 255, 255, 0, 0, 0]);
    assert_close(&decode_image(&bytes).unwrap().pixels, &[1.0, 0.0], 1e-5);

    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, 3, 1);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(vec![0, 0, 0, 255, 255, 255, 0, 0, 255]);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&[1, 0, 2]).unwrap();
    writer.finish().unwrap();
    assert_close(&decode_image(&bytes).unwrap().pixels, &[1.0, 0.0, 0.114], 1e-5);
}

#[test]
fn read_pgm_p5_8_bit() {
    let (bytes, expected) = pgm_p5(255);
    let path = temp_path("digit.pgm");
    std::fs::write(&path, bytes).unwrap();
    let image = read_image(&path).unwrap();
    assert_eq!((image.width, image.height), (3, 2));
    assert_close(&image.pixels, &expected, 1e-6);
}

#[test]
fn read_pgm_p5_16_bit_big_endian() {
    let (bytes, expected) = pgm_p5(65535);
    let path = temp_path("deep.pgm");
    std::fs::write(&path, bytes).unwrap();
    assert_close(&read_image(&path).unwrap().pixels, &expected, 1e-6);
    // A maxval of 1000 is also 2 bytes a sample.
    let (bytes, expected) = pgm_p5(1000);
    assert_close(&decode_image(&bytes).unwrap().pixels, &expected, 1e-6);
}

#[test]
fn read_pgm_p2_ascii_with_comments() {
    let text = "P2\n# a hand-made picture\n3 2 # width height\n15\n0 5 10\n# the second row\n15\n 3 7\n";
    let path = temp_path("ascii.pgm");
    std::fs::write(&path, text).unwrap();
    let image = read_image(&path).unwrap();
    assert_eq!((image.width, image.height), (3, 2));
    assert_close(&image.pixels, &[0.0, 5.0 / 15.0, 10.0 / 15.0, 1.0, 3.0 / 15.0, 7.0 / 15.0], 1e-6);
}

#[test]
fn the_format_comes_from_the_bytes_not_the_name() {
    let (bytes, expected) = pgm_p5(255);
    let path = temp_path("really-a-pgm.png");
    std::fs::write(&path, bytes).unwrap();
    assert_close(&read_image(&path).unwrap().pixels, &expected, 1e-6);
}

// ---- bad files ----

#[test]
fn missing_file_is_an_error() {
    let message = image_error(read_image(&temp_path("missing.png")));
    assert!(message.contains("cannot be read"), "{message}");
}

#[test]
fn unknown_formats_are_errors() {
    let path = temp_path("noise.bin");
    std::fs::write(&path, [0x13, 0x37, 0x00, 0xff, 0x42, 0x99, 0x01, 0x02, 0x03]).unwrap();
    let message = image_error(read_image(&path));
    assert!(message.contains("neither PNG nor PGM"), "{message}");
    assert!(image_error(decode_image(&[])).contains("empty"));
    assert!(image_error(decode_image(b"P6\n1 1\n255\n\0\0\0")).contains("P6"));
    assert!(image_error(decode_image(&[0xff, 0xd8, 0xff, 0xe0, 0, 0])).contains("JPEG"));
}

#[test]
fn truncated_png_is_an_error() {
    let data: Vec<u8> = (0..64 * 64).map(|i| (i * 7 % 251) as u8).collect();
    let bytes = encode_png(64, 64, png::ColorType::Grayscale, png::BitDepth::Eight, &data);
    for cut in [9, 20, 33, bytes.len() / 2, bytes.len() - 13] {
        let path = temp_path("truncated.png");
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let message = image_error(read_image(&path));
        assert!(message.contains("PNG"), "cut at {cut}: {message}");
    }
}

#[test]
fn pgm_header_claiming_more_than_the_file_holds_is_an_error() {
    let mut bytes = b"P5\n10000 10000\n255\n".to_vec();
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    let path = temp_path("liar.pgm");
    std::fs::write(&path, &bytes).unwrap();
    let message = image_error(read_image(&path));
    assert!(message.contains("truncated") && message.contains("10000×10000"), "{message}");

    let message = image_error(decode_image(b"P2\n10000 10000\n255\n1 2 3 4"));
    assert!(message.contains("truncated"), "{message}");
}

#[test]
fn huge_and_malformed_pgm_headers_are_errors() {
    for (bytes, needle) in [
        (&b"P5\n100000 100000\n255\n"[..], "truncated"),
        (b"P5\n99999999999999999999999 2\n255\n", "truncated"),
        (b"P5\n0 5\n255\n", "empty"),
        (b"P5\n2 2\n0\n\0\0\0\0", "maxval"),
        (b"P5\n2 2\n70000\n\0\0\0\0", "maxval"),
        (b"P5\n2 x\n255\n\0\0\0\0", "height"),
        (b"P5\n2 2\n255", "truncated"),
        (b"P5\n2 2\n", "truncated"),
        (b"P5 3", "truncated"),
        (b"P5\n2 2\n10\n\x05\x06\x0b\x00", "above the maxval"),
        (b"P2\n2 2\n10\n1 2 3 x5 ", "not a digit"),
        (b"P2\n2 2\n10\n1 2 3        ", "3 of its 4"),
    ] {
        let message = image_error(decode_image(bytes));
        assert!(message.contains(needle), "{:?}: {message}", String::from_utf8_lossy(bytes));
    }
}

#[test]
fn pictures_over_the_pixel_limit_are_refused_before_decoding() {
    // A PNG whose header says 10000×10000 (its CRC fixed, so only the size is wrong).
    let mut bytes = encode_png(2, 2, png::ColorType::Grayscale, png::BitDepth::Eight, &[0; 4]);
    bytes[16..20].copy_from_slice(&10000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&10000u32.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&bytes[12..29]); // the chunk type and the 13 bytes of IHDR
    bytes[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    let message = image_error(decode_image(&bytes));
    assert!(message.contains("limit"), "{message}");

    // A PGM that really holds all the pixels its header announces, one row too many.
    let (width, height) = (8192, 8193);
    let mut bytes = format!("P5\n{width} {height}\n255\n").into_bytes();
    bytes.resize(bytes.len() + width * height, 0);
    let message = image_error(decode_image(&bytes));
    assert!(message.contains("limit"), "{message}");
}

fn valid_pgm() -> Vec<u8> {
    pgm_p5(255).0
}

fn valid_pgm_16() -> Vec<u8> {
    pgm_p5(65535).0
}

fn valid_pgm_ascii() -> Vec<u8> {
    b"P2\n# c\n3 2\n15\n0 5 10\n15 3 7\n".to_vec()
}

fn valid_png() -> Vec<u8> {
    let data: Vec<u8> = (0..6 * 5 * 4).map(|i| (i * 13 % 256) as u8).collect();
    encode_png(6, 5, png::ColorType::Rgba, png::BitDepth::Eight, &data)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        let _ = decode_image(&bytes);
    }

    #[test]
    fn random_bytes_after_a_magic_never_panic(
        magic in prop_oneof![Just(b"P5".to_vec()), Just(b"P2".to_vec()), Just(b"\x89PNG\r\n\x1a\n".to_vec())],
        rest in vec(any::<u8>(), 0..300),
    ) {
        let bytes = [magic, rest].concat();
        let _ = decode_image(&bytes);
    }

    #[test]
    fn mutated_files_never_panic(
        which in 0usize..4,
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = match which {
            0 => valid_pgm(),
            1 => valid_pgm_16(),
            2 => valid_pgm_ascii(),
            _ => valid_png(),
        };
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(image) = decode_image(&bytes) {
            prop_assert_eq!(image.pixels.len(), image.width * image.height);
        }
    }
}

#[test]
fn the_valid_files_of_the_proptest_are_valid() {
    for bytes in [valid_pgm(), valid_pgm_16(), valid_pgm_ascii(), valid_png()] {
        decode_image(&bytes).unwrap();
    }
}

// ---- Gray ----

#[test]
fn gray_new_checks_the_length() {
    assert!(matches!(Gray::new(3, 2, vec![0.0; 5]), Err(Error::Shape(_))));
    assert!(Gray::new(3, 2, vec![0.0; 6]).is_ok());
}

#[test]
fn from_tensor_channel_picks_one_map() {
    // (2, 2, 3, 2): value = arange, so (n, y, x, c) = ((n*2 + y)*3 + x)*2 + c.
    let t = Tensor::arange(&[2, 2, 3, 2]).unwrap();
    let map = Gray::from_tensor_channel(&t, 1, 1).unwrap();
    assert_eq!((map.width, map.height), (3, 2));
    assert_eq!(map.pixels, vec![13.0, 15.0, 17.0, 19.0, 21.0, 23.0]);
    assert!(matches!(Gray::from_tensor_channel(&t, 2, 0), Err(Error::Shape(_))));
    assert!(matches!(Gray::from_tensor_channel(&t, 0, 2), Err(Error::Shape(_))));
    let flat = Tensor::arange(&[2, 3]).unwrap();
    assert!(matches!(Gray::from_tensor_channel(&flat, 0, 0), Err(Error::Shape(_))));
}

#[test]
fn normalized_spans_zero_to_one_and_a_constant_map_is_mid_grey() {
    let map = Gray::new(2, 2, vec![-2.0, 0.0, 2.0, 6.0]).unwrap().normalized();
    assert_eq!(map.pixels, vec![0.0, 0.25, 0.5, 1.0]);
    let flat = Gray::new(2, 1, vec![3.0, 3.0]).unwrap().normalized();
    assert_eq!(flat.pixels, vec![0.5, 0.5]);
}

#[test]
fn resized_2x2_to_4x4_by_hand() {
    // Half-pixel centres: output x samples the source at (x + 0.5)/2 − 0.5 = −0.25, 0.25,
    // 0.75, 1.25, clamped to the edge: weights (1, 0), (.75, .25), (.25, .75), (0, 1).
    let image = Gray::new(2, 2, vec![0.0, 1.0, 2.0, 3.0]).unwrap();
    let big = image.resized(4, 4);
    assert_eq!((big.width, big.height), (4, 4));
    #[rustfmt::skip]
    let expected = [
        0.0, 0.25, 0.75, 1.0,
        0.5, 0.75, 1.25, 1.5,
        1.5, 1.75, 2.25, 2.5,
        2.0, 2.25, 2.75, 3.0,
    ];
    assert_close(&big.pixels, &expected, 1e-6);
}

#[test]
fn resized_shrinks_by_averaging() {
    // Halving: each output pixel is centred between two source pixels, with a tent two
    // source pixels wide on each side, weights 1/8, 3/8, 3/8, 1/8 (clipped at the edges).
    let row = Gray::new(4, 1, vec![0.0, 0.0, 1.0, 1.0]).unwrap();
    let half = row.resized(2, 1);
    assert_close(&half.pixels, &[1.0 / 7.0, 6.0 / 7.0], 1e-6);
    // A one-pixel line in a wide picture is not lost when shrinking 10 times.
    let mut line = vec![0.0; 100];
    line[53] = 1.0;
    let small = Gray::new(100, 1, line).unwrap().resized(10, 1);
    assert!(small.pixels.iter().sum::<f32>() > 0.09, "{:?}", small.pixels);
    // The same size is the identity.
    let image = Gray::new(3, 2, vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).unwrap();
    assert_close(&image.resized(3, 2).pixels, &image.pixels, 1e-6);
}

// ---- to_mnist ----

/// Centre of mass (pixel i covering [i, i + 1)) and ink bounding box of a (1, 28, 28, 1) tensor.
fn ink_stats(t: &Tensor) -> ((f32, f32), (usize, usize, usize, usize)) {
    let (mut mass, mut mx, mut my) = (0.0, 0.0, 0.0);
    let (mut x0, mut y0, mut x1, mut y1) = (28, 28, 0, 0);
    for (i, &v) in t.data().iter().enumerate() {
        let (x, y) = (i % 28, i / 28);
        mass += v;
        mx += v * (x as f32 + 0.5);
        my += v * (y as f32 + 0.5);
        if v > 0.5 {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    ((mx / mass, my / mass), (x0, y0, x1, y1))
}

#[test]
fn to_mnist_turns_a_dark_bar_on_paper_into_a_centred_white_digit() {
    // 100×60 white paper with a thick black bar 60 wide and 15 high, off centre.
    let (w, h) = (100, 60);
    let mut pixels = vec![0.95; w * h];
    for y in 5..20 {
        for x in 30..90 {
            pixels[y * w + x] = 0.05;
        }
    }
    let t = to_mnist(&Gray::new(w, h, pixels).unwrap()).unwrap();
    assert_eq!(t.shape(), &[1, 28, 28, 1]);
    assert!(t.data().iter().all(|&v| (0.0..=1.0).contains(&v)));
    // White on black now.
    assert_eq!(t.get(&[0, 0, 0, 0]), Some(0.0));
    assert_eq!(t.get(&[0, 27, 27, 0]), Some(0.0));
    assert!(t.get(&[0, 14, 14, 0]).unwrap() > 0.9);
    let ((cx, cy), (x0, y0, x1, y1)) = ink_stats(&t);
    assert!((cx - 14.0).abs() <= 1.0 && (cy - 14.0).abs() <= 1.0, "centre of mass ({cx}, {cy})");
    // The longer side (across) is 20 pixels; the bar keeps its 4:1 shape, 5 pixels high.
    let (ink_w, ink_h) = (x1 - x0 + 1, y1 - y0 + 1);
    assert!((19..=21).contains(&ink_w), "width {ink_w}");
    assert!((4..=6).contains(&ink_h), "height {ink_h}");
}

#[test]
fn to_mnist_keeps_an_mnist_like_digit_white_on_black() {
    // A white ring on black, already 28×28.
    let mut pixels = vec![0.0; 28 * 28];
    for y in 0..28 {
        for x in 0..28 {
            let r = ((x as f32 - 13.5).powi(2) + (y as f32 - 13.5).powi(2)).sqrt();
            if (6.0..9.0).contains(&r) {
                pixels[y * 28 + x] = 1.0;
            }
        }
    }
    let t = to_mnist(&Gray::new(28, 28, pixels).unwrap()).unwrap();
    assert_eq!(t.get(&[0, 0, 0, 0]), Some(0.0));
    assert_eq!(t.get(&[0, 14, 14, 0]), Some(0.0), "the hole of the ring stays black");
    let ((cx, cy), (x0, _, x1, _)) = ink_stats(&t);
    assert!((cx - 14.0).abs() <= 1.0 && (cy - 14.0).abs() <= 1.0, "centre of mass ({cx}, {cy})");
    assert!((19..=21).contains(&(x1 - x0 + 1)));
    let white = t.data().iter().filter(|&&v| v > 0.5).count();
    assert!(white > 50 && white < 400, "{white} white pixels");
}

#[test]
fn to_mnist_of_a_blank_page_is_black_and_of_nothing_an_error() {
    let blank = to_mnist(&Gray::new(50, 40, vec![1.0; 2000]).unwrap()).unwrap();
    assert_eq!(blank.shape(), &[1, 28, 28, 1]);
    assert!(blank.data().iter().all(|&v| v.abs() < 1e-6));
    assert!(matches!(to_mnist(&Gray::new(0, 0, vec![]).unwrap()), Err(Error::Image(_))));
}

#[test]
fn to_mnist_keeps_a_tall_thin_digit_inside() {
    // A one-pixel-wide vertical line at the very left edge, in a 5×300 picture.
    let mut pixels = vec![0.0; 5 * 300];
    for y in 0..300 {
        pixels[y * 5] = 1.0;
    }
    let t = to_mnist(&Gray::new(5, 300, pixels).unwrap()).unwrap();
    let (_, (x0, y0, x1, y1)) = ink_stats(&t);
    assert_eq!(y1 - y0 + 1, 20);
    assert!(x0 >= 13 && x1 <= 14, "columns {x0}..={x1}");
}

// ---- drawings ----

#[test]
fn grid_size_and_tile_placement() {
    // 32 feature maps of 26×26, as the first conv layer gives: 8 columns, scale 4, gap 2.
    let tiles: Vec<Gray> =
        (0..32).map(|i| Gray::new(26, 26, vec![i as f32 / 31.0; 26 * 26]).unwrap()).collect();
    let mut tiles = tiles;
    tiles[9].pixels[3 * 26 + 5] = 1.0; // tile 9 (row 1, column 1), pixel x = 5, y = 3
    tiles[9].pixels[0] = 0.0;
    let image = grid(&tiles, 8, 4, 2).unwrap();
    assert_eq!(image.width, 2 + 8 * (26 * 4 + 2));
    assert_eq!(image.height, 2 + 4 * (26 * 4 + 2));
    assert_eq!((image.width, image.height), (850, 426));
    assert_eq!(image.pixels.len(), 850 * 426);
    let at = |x: usize, y: usize| image.pixels[y * image.width + x];
    // Tile 9 starts at gap + 1 · (104 + 2) = 108 in both directions.
    let (left, top) = (108, 108);
    for dy in 0..4 {
        for dx in 0..4 {
            assert_eq!(at(left + 5 * 4 + dx, top + 3 * 4 + dy), [255; 3]);
            assert_eq!(at(left + dx, top + dy), [0; 3]);
        }
    }
    let grey = (9.0f32 / 31.0 * 255.0).round() as u8;
    assert_eq!(at(left + 4, top), [grey; 3]);
    // The separator is neither black, white nor grey, around the border and between tiles.
    let sep = at(0, 0);
    assert!(sep[0] != sep[1] || sep[1] != sep[2]);
    assert_eq!(at(left - 1, top + 10), sep);
    assert_eq!(at(image.width - 1, image.height - 1), sep);
    // Tile 0's first pixel is black (value 0) at (2, 2).
    assert_eq!(at(2, 2), [0; 3]);
}

#[test]
fn grid_with_fewer_tiles_than_columns_and_a_partial_last_row() {
    let tile = Gray::new(2, 3, vec![1.0; 6]).unwrap();
    let image = grid(&[tile.clone(), tile.clone()], 5, 1, 1).unwrap();
    assert_eq!((image.width, image.height), (1 + 2 * 3, 1 + 4));
    let image = grid(&[tile.clone(), tile.clone(), tile.clone()], 2, 2, 0).unwrap();
    assert_eq!((image.width, image.height), (8, 12));
    // The empty cell (row 1, column 1) shows the separator colour (not grey), not a tile.
    let empty = image.pixels[11 * 8 + 7];
    assert!(empty[0] != empty[1] || empty[1] != empty[2], "{empty:?}");
}

#[test]
fn grid_errors() {
    let tile = Gray::new(2, 2, vec![0.0; 4]).unwrap();
    assert!(matches!(grid(&[], 4, 1, 1), Err(Error::Image(_))));
    assert!(matches!(grid(std::slice::from_ref(&tile), 0, 1, 1), Err(Error::Image(_))));
    assert!(matches!(grid(std::slice::from_ref(&tile), 1, 0, 1), Err(Error::Image(_))));
    let other = Gray::new(3, 2, vec![0.0; 6]).unwrap();
    assert!(matches!(grid(&[tile.clone(), other], 2, 1, 1), Err(Error::Shape(_))));
    assert!(matches!(grid(&[tile], 1, 1 << 20, 1), Err(Error::Image(_))));
}

#[test]
fn heatmap_overlay_size_and_colours() {
    let digit = Gray::new(3, 3, vec![0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
    // A 3×3 heatmap: cold on the left, hot on the right.
    let heat = Gray::new(3, 3, vec![0.0, 0.5, 1.0, 0.0, 0.5, 1.0, 0.0, 0.5, 1.0]).unwrap();
    let image = heatmap_overlay(&digit, &heat, 5).unwrap();
    assert_eq!((image.width, image.height), (15, 15));
    let at = |x: usize, y: usize| image.pixels[y * image.width + x];
    let (cold, hot) = (at(0, 0), at(14, 0));
    assert_ne!(cold, hot);
    assert!(cold[2] > cold[0], "cold is blue: {cold:?}");
    assert!(hot[0] > hot[2], "hot is red: {hot:?}");
    // Each source pixel is a 5×5 block.
    assert_eq!(at(10, 0), at(14, 4));
    // The white digit pixel brightens the overlay.
    assert!(
        at(7, 7).iter().map(|&c| u32::from(c)).sum::<u32>() > at(7, 2).iter().map(|&c| u32::from(c)).sum()
    );
    assert_eq!(jet(0.0), [0, 0, 128]);
    assert_eq!(jet(1.0), [128, 0, 0]);
    assert_eq!(jet(0.5), [128, 255, 128]);

    // A 3×3 heat upsampled to a 28×28 digit.
    let big = heat.resized(28, 28);
    let digit = Gray::new(28, 28, vec![0.2; 28 * 28]).unwrap();
    let image = heatmap_overlay(&digit, &big, 2).unwrap();
    assert_eq!((image.width, image.height), (56, 56));

    assert!(matches!(heatmap_overlay(&digit, &heat, 2), Err(Error::Shape(_))));
    assert!(matches!(heatmap_overlay(&digit, &big, 0), Err(Error::Image(_))));
}
