//! The figures of the book's chapters on convolution, padding, strides and max pooling, drawn
//! as SVG files from numbers this crate computes.
//!
//! ```console
//! cargo run --release --example book_figures
//! ```
//!
//! *Deep Learning with Python* teaches section 5.1 with pictures: a window sliding over an
//! input, the patches it cuts out, the zeros of padding, the gaps of a stride, the winners of
//! max pooling, the receptive field that grows from layer to layer. This program draws those
//! pictures into `chapters/images/`:
//!
//! - `conv_sliding_window.svg`: one output value of a 3×3 convolution, worked out: the window
//!   over a crop of a real digit, the kernel, the nine products, their sum plus the bias, and
//!   where the result lands in the output map;
//! - `conv_valid_positions.svg`: the 9 places a 3×3 window fits in a 5×5 input, giving a 3×3
//!   output;
//! - `conv_padding.svg`: `same` padding turns the 5×5 input into 7×7, where the window fits
//!   25 times, so the output stays 5×5;
//! - `conv_strides.svg`: with stride 2 the window fits only 4 times: a 2×2 output;
//! - `max_pooling.svg`: a hand-made edge detector applied to the digit, then 2×2 max pooling
//!   of that feature map, with each window's winner marked;
//! - `receptive_field.svg`: how many input pixels one pixel of each layer of the book's model
//!   sees (3, 4, 8, 10, 18).
//!
//! Why draw them with code rather than by hand? A drawing made by hand shows what its author
//! believed; these show what the crate computes. The inputs are the chapters' own (the 0 to 24
//! of the worked examples, the test digit of `chapters/images/digit.png`); every output value,
//! padding, size, window position and max-pooling winner comes from the crate
//! (`conv::naive::forward`, `zero_pad`, `pads_1d`, `out_len`, `Window2D`, `MaxPooling2D`). The
//! program also checks, with `assert!`, the arithmetic each figure shows: the products of the
//! first figure add up to the crate's output value, each window sum is the sum of its window,
//! the receptive fields traced through the crate's windows follow the rule
//! `r_out = r_in + (k − 1) · jump_in`. If the crate and a figure ever disagree, the program
//! stops with an error (and a non-zero exit code) before it writes anything, instead of drawing
//! a wrong picture. Run it again after changing the crate, and the figures follow.
//!
//! The SVG is written by hand (it is only text: rectangles, lines and labels), with no
//! external fonts or files, so the pictures look the same offline.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use convnets::conv::{ConvGeometry, naive};
use convnets::padding::{pads_1d, zero_pad};
use convnets::picture::read_image;
use convnets::{Layer, MaxPooling2D, Padding, Pads, Tensor, Window2D, out_len};

/// Where the figures go: the book's image folder, wherever the program is started from.
const IMAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/chapters/images");

// The colours, the same in every figure, so a reader learns them once. They are the
// Okabe-Ito colours, which readers with the common forms of colour blindness tell apart.
/// Text.
const INK: &str = "#222222";
/// Secondary text: notes, units, the zeros of padding.
const MUTED: &str = "#6b6b6b";
/// The lines between the cells of a grid.
const GRID: &str = "#9a9a9a";
/// An ordinary input cell.
const PAPER: &str = "#f6f6f6";
/// A padding cell.
const PAD_FILL: &str = "#e4e4e4";
/// The window (the patch being read): blue.
const WINDOW: &str = "#0072B2";
const WINDOW_FILL: &str = "#d4e7f5";
/// The kernel: orange.
const KERNEL: &str = "#E69F00";
const KERNEL_FILL: &str = "#fbe6bd";
/// The output: green.
const OUTPUT: &str = "#009E73";
const OUTPUT_FILL: &str = "#cdeee2";
/// A max-pooling winner: vermillion.
const WINNER: &str = "#D55E00";

/// The hand-made feature detector of the first and the max-pooling figure: a Sobel filter.
/// Its left column weighs the pixels left of the centre by −1, −2, −1 and its right column the
/// pixels right of it by +1, +2, +1, so it answers "how much brighter is it on the right than
/// on the left?": it responds to the left edges of the (bright) strokes of an MNIST digit.
const EDGE_KERNEL: [f32; 9] = [-1.0, 0.0, 1.0, -2.0, 0.0, 2.0, -1.0, 0.0, 1.0];
/// Its bias. Negative, so that after ReLU only clear edges remain, not faint shading.
const EDGE_BIAS: f32 = -0.5;

fn main() -> convnets::Result<()> {
    let digit = read_digit(&Path::new(IMAGES).join("digit.png"))?;
    // The digit's pixels rounded to one decimal, for the figures that print numbers: with the
    // edge kernel's whole-number weights every product, sum and output then has one decimal
    // too, so a reader can redo the arithmetic by hand.
    let rounded: Vec<f32> = digit.iter().map(|v| (v * 10.0).round() / 10.0).collect();
    let figures = [
        ("conv_sliding_window.svg", sliding_window(&rounded)?),
        ("conv_valid_positions.svg", valid_positions()?),
        ("conv_padding.svg", padding()?),
        ("conv_strides.svg", strides()?),
        ("max_pooling.svg", max_pooling(&digit)?),
        ("receptive_field.svg", receptive_field(&digit)?),
    ];
    for (name, svg) in figures {
        let path = PathBuf::from(IMAGES).join(name);
        std::fs::write(&path, svg.finish())
            .map_err(|e| convnets::Error::image(format!("{} cannot be written: {e}", path.display())))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The digit
// ---------------------------------------------------------------------------------------------

/// The 28×28 digit of `chapters/images/digit.png`, values 0 (black) to 1 (white), row-major.
///
/// That picture is the first MNIST test digit as `convnets visualize` draws it: each pixel
/// enlarged to an 8×8 block, inside a 2-pixel frame (228 = 2 + 28·8 + 2). We read it with the
/// crate's picture reader and take one pixel from the middle of each block. The program checks
/// that every block is one flat grey, so a picture drawn some other way is refused rather than
/// misread.
fn read_digit(path: &Path) -> convnets::Result<Vec<f32>> {
    const SIDE: usize = 28;
    const SCALE: usize = 8;
    const FRAME: usize = 2;
    let picture = read_image(path)?;
    assert_eq!(
        (picture.width, picture.height),
        (FRAME + SIDE * SCALE + FRAME, FRAME + SIDE * SCALE + FRAME),
        "{} is not a 28×28 digit enlarged 8 times in a 2-pixel frame",
        path.display()
    );
    let at = |x: usize, y: usize| picture.pixels[y * picture.width + x];
    let mut digit = vec![0.0; SIDE * SIDE];
    for row in 0..SIDE {
        for col in 0..SIDE {
            let (left, top) = (FRAME + col * SCALE, FRAME + row * SCALE);
            let value = at(left + SCALE / 2, top + SCALE / 2);
            for y in top..top + SCALE {
                for x in left..left + SCALE {
                    assert_eq!(at(x, y), value, "{}: block ({row}, {col}) is not flat", path.display());
                }
            }
            digit[row * SIDE + col] = value;
        }
    }
    Ok(digit)
}

// ---------------------------------------------------------------------------------------------
// Figure 1: one output value of a convolution
// ---------------------------------------------------------------------------------------------

/// The window, kernel, products, sum and output map of one step of a 3×3 convolution over a
/// 5×5 crop of the digit (`rounded`: its pixels rounded to one decimal).
fn sliding_window(rounded: &[f32]) -> convnets::Result<Svg> {
    // Which window to show: in the whole 26×26 map, one where the detector responds and that
    // has the most non-zero products (so the sum has something to add up), the strongest such.
    // The crop around it puts that window at row 1, column 0 of the crop: not in the middle,
    // so that it is clear where its output value goes.
    let (wr, wc) = (1, 0);
    let full = convolve(rounded, 28, &EDGE_KERNEL, EDGE_BIAS, Padding::Valid, 1)?;
    let nonzero_products = |r: usize, c: usize| {
        (0..9).filter(|&i| rounded[(r + i / 3) * 28 + c + i % 3] * EDGE_KERNEL[i] != 0.0).count()
    };
    let mut at = (0, 0);
    let mut best = (0, f32::NEG_INFINITY);
    for r in wr..=28 - 5 + wr {
        for c in wc..=28 - 5 + wc {
            let y = full.values[r * 26 + c];
            let score = (nonzero_products(r, c), y);
            if y > 0.0 && (score.0 > best.0 || (score.0 == best.0 && score.1 > best.1)) {
                (best, at) = (score, (r, c));
            }
        }
    }
    let (top, left) = (at.0 - wr, at.1 - wc);
    let crop: Vec<f32> = (0..25).map(|i| rounded[(top + i / 5) * 28 + left + i % 5]).collect();

    // The crate computes the whole 3×3 output map of the crop...
    let out = convolve(&crop, 5, &EDGE_KERNEL, EDGE_BIAS, Padding::Valid, 1)?;
    assert_eq!((out.height, out.width), (3, 3));
    let y = out.values[wr * 3 + wc];
    // ...and the figure redoes the one value it explains, as the figure shows it: nine
    // products, added to the bias in the same order as the loops of `naive::forward`. The two
    // must agree exactly.
    let products: Vec<f32> = (0..9).map(|i| crop[(wr + i / 3) * 5 + wc + i % 3] * EDGE_KERNEL[i]).collect();
    let sum_of_products: f32 = products.iter().sum();
    let by_hand = products.iter().fold(EDGE_BIAS, |sum, p| sum + p);
    assert_eq!(by_hand, y, "the figure's sum must be the crate's output value");
    // And the numbers as printed (one decimal) add up too: in tenths, all are whole numbers.
    let tenths = |v: f32| (v * 10.0).round() as i64;
    let printed_sum: i64 = products.iter().map(|&p| tenths(p)).sum();
    assert_eq!(printed_sum, tenths(sum_of_products), "the printed products must add up to the printed sum");
    assert_eq!(
        printed_sum + tenths(EDGE_BIAS),
        tenths(y),
        "the printed sum plus the bias must be the output"
    );
    println!(
        "sliding window: input rows {top}–{}, cols {left}–{}, window ({wr}, {wc}): sum {} + bias ({}) = {}",
        top + 4,
        left + 4,
        num(sum_of_products, 1),
        num(EDGE_BIAS, 1),
        num(y, 1)
    );

    let mut svg = Svg::new(740.0, 430.0);
    svg.title("One output value: a 3×3 window, the kernel, nine products and their sum");

    // The input crop with the window.
    let input = Grid { x: 20.0, y: 92.0, rows: 5, cols: 5, cell: 36.0 };
    svg.label_above(&input, "input (5×5)");
    let in_window = |r: usize, c: usize| (wr..wr + 3).contains(&r) && (wc..wc + 3).contains(&c);
    svg.cells(&input, |r, c| {
        let fill = if in_window(r, c) { WINDOW_FILL } else { PAPER };
        Cell::new(fill, num(crop[r * 5 + c], 1))
    });
    svg.outline(input.block(wr, wc, 3, 3), WINDOW, 3.0);

    // The kernel, level with the window.
    let kernel = Grid { x: 242.0, y: input.y + wr as f64 * input.cell, rows: 3, cols: 3, cell: 36.0 };
    svg.text(221.0, kernel.mid_y() + 7.0, Style { size: 22.0, ..LABEL }.centred(), "×");
    svg.label_above(&kernel, "kernel");
    svg.cells(&kernel, |r, c| Cell::new(KERNEL_FILL, num(EDGE_KERNEL[r * 3 + c], 0)));
    svg.outline(kernel.whole(), KERNEL, 2.0);

    // The nine products.
    let prods = Grid { x: 386.0, y: kernel.y - 6.0, rows: 3, cols: 3, cell: 40.0 };
    svg.text(368.0, prods.mid_y() + 7.0, Style { size: 22.0, ..LABEL }.centred(), "=");
    svg.label_above(&prods, "products");
    svg.cells(&prods, |r, c| Cell::new(PAPER, num(products[r * 3 + c], 1)));
    svg.outline(prods.whole(), INK, 1.5);

    // The output map, the value just computed level with the products it comes from.
    let output = Grid { x: 590.0, y: prods.mid_y() - (wr as f64 + 0.5) * 44.0, rows: 3, cols: 3, cell: 44.0 };
    svg.label_above(&output, "output (3×3)");
    svg.cells(&output, |r, c| {
        let here = (r, c) == (wr, wc);
        let mut cell = Cell::new(if here { OUTPUT_FILL } else { PAPER }, num(out.values[r * 3 + c], 1));
        if !here {
            cell.text.fill = MUTED;
        }
        cell
    });
    svg.outline(output.block(wr, wc, 1, 1), OUTPUT, 3.0);
    let from = prods.x + prods.width() + 8.0;
    svg.arrow((from, prods.mid_y()), (output.x - 6.0, prods.mid_y()), OUTPUT);
    let mid = (from + output.x) / 2.0;
    svg.text(mid, prods.mid_y() - 10.0, Style { fill: OUTPUT, ..NOTE }.centred(), "sum");
    svg.text(mid, prods.mid_y() + 22.0, Style { fill: OUTPUT, ..NOTE }.centred(), "+ bias");

    // The sum, written out.
    let terms = products.iter().enumerate().fold(String::new(), |mut s, (i, &p)| {
        match (i, p < 0.0) {
            (0, _) => s.push_str(&num(p, 1)),
            (_, true) => write!(s, " − {}", num(-p, 1)).unwrap_or(()),
            (_, false) => write!(s, " + {}", num(p, 1)).unwrap_or(()),
        }
        s
    });
    let sum_y = input.y + input.height() + 44.0;
    let line = Style { size: 15.0, ..LABEL };
    let bold = Style { bold: true, ..line };
    svg.spans(
        20.0,
        sum_y,
        line,
        &[(bold, "sum of the products: ".into()), (line, format!("{terms} = {}", num(sum_of_products, 1)))],
    );
    svg.spans(
        20.0,
        sum_y + 26.0,
        line,
        &[
            (bold, "plus the bias: ".into()),
            (line, format!("{} + ({}) = ", num(sum_of_products, 1), num(EDGE_BIAS, 1))),
            (Style { fill: OUTPUT, ..bold }, num(y, 1)),
            (line, format!(", the output value at row {wr}, column {wc}.")),
        ],
    );
    let notes = [
        format!(
            "Input: the test digit of the chapters, rows {top}–{} and columns {left}–{}, rounded to one decimal. Kernel: a Sobel",
            top + 4,
            left + 4
        ),
        "edge detector; it responds where the image gets brighter from left to right. The window slides one column".into(),
        format!("to the right for the next output value, and so on over all {} × {} positions.", out.height, out.width),
    ];
    for (i, note) in notes.iter().enumerate() {
        svg.text(20.0, sum_y + 64.0 + 18.0 * i as f64, NOTE, note);
    }
    Ok(svg)
}

// ---------------------------------------------------------------------------------------------
// Figures 2–4: where the window goes (valid, same, strides)
// ---------------------------------------------------------------------------------------------

/// The 5×5 input of the chapters' worked examples: the numbers 0 to 24.
fn arange_5x5() -> Vec<f32> {
    (0..25).map(|v| v as f32).collect()
}

/// The all-ones 3×3 kernel: each output value is then the sum of its window, which a reader
/// can check against the input.
const ONES: [f32; 9] = [1.0; 9];

/// A 3×3 window over a 5×5 input with `valid` padding: 9 positions, a 3×3 output.
fn valid_positions() -> convnets::Result<Svg> {
    let x = arange_5x5();
    let out = convolve(&x, 5, &ONES, 0.0, Padding::Valid, 1)?;
    let n = out_len(5, 3, 1, Padding::Valid)?;
    assert_eq!((out.height, out.width, n), (3, 3, 3), "a 3×3 window fits 3 times along 5");
    check_window_sums(&x, 5, &out, Pads::default(), 1);
    println!("valid: out_len(5, 3, 1, Valid) = {n}: {} positions", n * n);

    let mut svg = Svg::new(740.0, 386.0);
    svg.title(&format!("A 3×3 window fits at {n} × {n} = {} positions of a 5×5 input", n * n));

    let input = Grid { x: 20.0, y: 110.0, rows: 5, cols: 5, cell: 34.0 };
    svg.label_above(&input, "input: 5×5");
    svg.cells(&input, |r, c| {
        Cell::new(if r < n && c < n { WINDOW_FILL } else { PAPER }, num(x[r * 5 + c], 0))
    });
    svg.outline(input.block(0, 0, 3, 3), WINDOW, 3.0);
    svg.text(input.x, input.y + input.height() + 24.0, NOTE, "blue: where a window's top-left");
    svg.text(input.x, input.y + input.height() + 40.0, NOTE, "corner can go (rows and cols 0–2)");

    let thumbs = Thumbnails {
        x: 240.0,
        y: 80.0,
        count: n,
        input: 5,
        window: 3,
        stride: 1,
        pad: 0,
        cell: 13.0,
        gap: 18.0,
    };
    svg.label(thumbs.x + thumbs.width() / 2.0, thumbs.y - 12.0, "the 9 windows", true);
    svg.thumbnails(&thumbs);
    svg.arrow((input.x + input.width() + 10.0, input.mid_y()), (thumbs.x - 12.0, input.mid_y()), INK);

    let output = Grid { x: 570.0, y: 127.0, rows: 3, cols: 3, cell: 44.0 };
    svg.label_above(&output, "output: 3×3");
    svg.cells(&output, |r, c| Cell::new(OUTPUT_FILL, num(out.values[r * 3 + c], 0)));
    svg.outline(output.whole(), OUTPUT, 2.0);
    svg.arrow((thumbs.x + thumbs.width() + 12.0, output.mid_y()), (output.x - 12.0, output.mid_y()), INK);
    svg.text(output.x, output.y + output.height() + 24.0, NOTE, "kernel of ones: each value");
    svg.text(output.x, output.y + output.height() + 40.0, NOTE, "is the sum of its window");

    // One window and its output value, framed in green: same place, same arrangement.
    let (r, c) = (1, 2);
    let mut frame = thumbs.frame(r, c);
    frame.inset(-4.0);
    svg.outline(frame, OUTPUT, 2.5);
    svg.outline(output.block(r, c, 1, 1), OUTPUT, 4.0);
    svg.text(
        20.0,
        350.0,
        NOTE,
        &format!(
            "Each window gives one output value, in the same arrangement: the window at row {r}, column {c} (framed) gives"
        ),
    );
    svg.text(
        20.0,
        368.0,
        NOTE,
        &format!(
            "output ({r}, {c}) = {}, the sum of {}.",
            num(out.values[r * 3 + c], 0),
            window_terms(&x, 5, r, c)
        ),
    );
    Ok(svg)
}

/// `same` padding: the 5×5 input padded to 7×7, 25 positions, a 5×5 output.
fn padding() -> convnets::Result<Svg> {
    let x = arange_5x5();
    let (before, after) = pads_1d(Padding::Same, 5, 3, 1);
    let pads = Pads { top: before, bottom: after, left: before, right: after };
    let padded = zero_pad(&Tensor::new(&[1, 5, 5, 1], x.clone())?, pads)?;
    let side = 5 + before + after;
    assert_eq!(padded.shape(), &[1, side, side, 1]);
    assert_eq!((before, after, side), (1, 1, 7), "same padding of a 3×3 window adds one zero each side");

    // The `same` convolution of the 5×5 input, and the `valid` one of the padded 7×7 input:
    // padding is nothing but zeros around the input, so they are the same.
    let out = convolve(&x, 5, &ONES, 0.0, Padding::Same, 1)?;
    let out_padded = convolve(padded.data(), side, &ONES, 0.0, Padding::Valid, 1)?;
    assert_eq!(out.values, out_padded.values, "same on 5×5 = valid on the zero-padded 7×7");
    let n = out.height;
    assert_eq!((n, out.width, out_len(5, 3, 1, Padding::Same)?), (5, 5, 5));
    check_window_sums(&x, 5, &out, pads, 1);
    println!(
        "same: pads_1d(Same, 5, 3, 1) = ({before}, {after}): 5×5 padded to {side}×{side}, {} positions",
        n * n
    );

    let mut svg = Svg::new(740.0, 430.0);
    svg.title(&format!("“same” padding: the 3×3 window now fits {n} × {n} = {} times", n * n));

    let input = Grid { x: 20.0, y: 100.0, rows: side, cols: side, cell: 28.0 };
    svg.label_above(&input, &format!("input padded to {side}×{side}"));
    svg.cells(&input, |r, c| {
        let inside = (before..before + 5).contains(&r) && (before..before + 5).contains(&c);
        let v = padded.data()[r * side + c];
        if inside {
            Cell::new(PAPER, num(v, 0))
        } else {
            let mut cell = Cell::new(PAD_FILL, num(v, 0));
            cell.text.fill = MUTED;
            cell.dashed = true;
            cell
        }
    });
    svg.outline(input.block(before, before, 5, 5), INK, 2.0);
    svg.outline(input.block(0, 0, 3, 3), WINDOW, 3.0);

    let thumbs = Thumbnails {
        x: 270.0,
        y: 86.0,
        count: n,
        input: 5,
        window: 3,
        stride: 1,
        pad: before,
        cell: 6.0,
        gap: 8.0,
    };
    svg.label(thumbs.x + thumbs.width() / 2.0, thumbs.y - 12.0, &format!("the {} windows", n * n), true);
    svg.thumbnails(&thumbs);
    svg.arrow((input.x + input.width() + 8.0, input.mid_y()), (thumbs.x - 10.0, input.mid_y()), INK);

    let output = Grid { x: 562.0, y: input.mid_y() - 2.5 * 32.0, rows: n, cols: n, cell: 32.0 };
    svg.label_above(&output, &format!("output: {n}×{n}"));
    svg.cells(&output, |r, c| Cell::new(OUTPUT_FILL, num(out.values[r * n + c], 0)));
    svg.outline(output.whole(), OUTPUT, 2.0);
    // The first window and its output value, framed in green.
    let mut frame = thumbs.frame(0, 0);
    frame.inset(-3.0);
    svg.outline(frame, OUTPUT, 2.0);
    svg.outline(output.block(0, 0, 1, 1), OUTPUT, 4.0);
    svg.arrow((thumbs.x + thumbs.width() + 10.0, input.mid_y()), (output.x - 10.0, input.mid_y()), INK);

    // The input values under the first window (the rest of it is padding).
    let is_input = |k: usize| (before..before + 5).contains(&k);
    let first_window: Vec<String> = (0..9)
        .filter(|i| is_input(i / 3) && is_input(i % 3))
        .map(|i| num(padded.data()[(i / 3) * side + i % 3], 0))
        .collect();
    let notes = [
        format!(
            "Grey, dashed: the zeros of padding, pads_1d(Same, 5, 3, 1) = ({before}, {after}): one row or column on each side."
        ),
        "Blue: the first window; 5 of its 9 cells are padding. Kernel of ones: each output value is the sum of its".into(),
        format!(
            "window, so the first one (framed) is {} = {}, and the output keeps the input's 5×5 size.",
            first_window.join(" + "),
            num(out.values[0], 0)
        ),
    ];
    for (i, note) in notes.iter().enumerate() {
        svg.text(20.0, 364.0 + 18.0 * i as f64, NOTE, note);
    }
    Ok(svg)
}

/// Stride 2: the 3×3 window starts at rows and columns 0 and 2 of the 5×5 input, a 2×2 output.
fn strides() -> convnets::Result<Svg> {
    let x = arange_5x5();
    let stride = 2;
    let n = out_len(5, 3, stride, Padding::Valid)?;
    let out = convolve(&x, 5, &ONES, 0.0, Padding::Valid, stride)?;
    assert_eq!((n, out.height, out.width), (2, 2, 2), "⌊(5 − 3) / 2⌋ + 1 = 2");
    check_window_sums(&x, 5, &out, Pads::default(), stride);
    println!("strides: out_len(5, 3, 2, Valid) = {n}: {} positions", n * n);

    let mut svg = Svg::new(740.0, 420.0);
    svg.title(&format!(
        "Stride 2: the 3×3 window jumps two cells at a time, {n} × {n} = {} positions",
        n * n
    ));

    let input = Grid { x: 20.0, y: 120.0, rows: 5, cols: 5, cell: 40.0 };
    svg.label(input.x + input.width() / 2.0, input.y - 44.0, "input: 5×5", true);
    let starts: Vec<usize> = (0..n).map(|i| i * stride).collect();
    svg.cells(&input, |r, c| {
        let corner = starts.contains(&r) && starts.contains(&c);
        Cell::new(if corner { WINDOW_FILL } else { PAPER }, num(x[r * 5 + c], 0))
    });
    // The first window, and the second one a stride further right, dashed.
    svg.outline(input.block(0, 0, 3, 3), WINDOW, 3.0);
    let mut second = input.block(0, stride, 3, 3);
    second.inset(3.0);
    svg.dashed_outline(second, WINDOW, 2.5);
    // A bracket above the input: the step from one window to the next.
    let (x0, _) = input.centre(0, 0);
    let (x1, _) = input.centre(0, stride);
    let bracket_y = input.y - 14.0;
    svg.line((x0, bracket_y), (x1, bracket_y), WINDOW, 1.5);
    svg.line((x0, bracket_y - 5.0), (x0, bracket_y + 5.0), WINDOW, 1.5);
    svg.line((x1, bracket_y - 5.0), (x1, bracket_y + 5.0), WINDOW, 1.5);
    svg.text(
        (x0 + x1) / 2.0,
        bracket_y - 6.0,
        Style { fill: WINDOW, ..NOTE }.centred(),
        &format!("stride {stride}"),
    );
    let below = input.y + input.height();
    svg.text(input.x, below + 22.0, NOTE, "blue: where a window's top-left");
    svg.text(input.x, below + 38.0, NOTE, "corner goes: rows and cols 0 and 2");

    let thumbs = Thumbnails {
        x: 290.0,
        y: 130.0,
        count: n,
        input: 5,
        window: 3,
        stride,
        pad: 0,
        cell: 14.0,
        gap: 22.0,
    };
    svg.label(thumbs.x + thumbs.width() / 2.0, thumbs.y - 12.0, &format!("the {} windows", n * n), true);
    svg.thumbnails(&thumbs);
    svg.arrow((input.x + input.width() + 10.0, input.mid_y()), (thumbs.x - 12.0, input.mid_y()), INK);

    let output = Grid { x: 560.0, y: 172.0, rows: n, cols: n, cell: 48.0 };
    svg.label_above(&output, "output: 2×2");
    svg.cells(&output, |r, c| Cell::new(OUTPUT_FILL, num(out.values[r * n + c], 0)));
    svg.outline(output.whole(), OUTPUT, 2.0);
    svg.arrow((thumbs.x + thumbs.width() + 12.0, input.mid_y()), (output.x - 12.0, input.mid_y()), INK);
    svg.text(output.x - 20.0, output.y + output.height() + 24.0, NOTE, "kernel of ones: each value");
    svg.text(output.x - 20.0, output.y + output.height() + 40.0, NOTE, "is the sum of its window");
    svg.text(
        20.0,
        400.0,
        NOTE,
        &format!(
            "out_len(5, 3, 2, Valid) = ⌊(5 − 3) / 2⌋ + 1 = {n}: a third window would start at column 4 and hang off the input."
        ),
    );
    Ok(svg)
}

/// The nine values of the 3×3 window at `(r, c)` of an `n`-wide input, as "a + b + …".
fn window_terms(x: &[f32], n: usize, r: usize, c: usize) -> String {
    let terms: Vec<String> = (0..9).map(|i| num(x[(r + i / 3) * n + c + i % 3], 0)).collect();
    terms.join(" + ")
}

/// Checks that every value of a convolution with the all-ones kernel (and bias 0) is the sum
/// of the input under its window, found here by plain index arithmetic, not by the crate.
fn check_window_sums(x: &[f32], n: usize, out: &Map, pads: Pads, stride: usize) {
    for oh in 0..out.height {
        for ow in 0..out.width {
            let mut sum = 0.0;
            for kh in 0..3 {
                for kw in 0..3 {
                    // Position in the padded input, then in the input (if not in the padding).
                    let (r, c) = (oh * stride + kh, ow * stride + kw);
                    if let (Some(r), Some(c)) = (r.checked_sub(pads.top), c.checked_sub(pads.left))
                        && r < n
                        && c < n
                    {
                        sum += x[r * n + c];
                    }
                }
            }
            assert_eq!(out.values[oh * out.width + ow], sum, "output ({oh}, {ow}) is its window's sum");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Figure 5: max pooling a real feature map
// ---------------------------------------------------------------------------------------------

/// The digit, its edge map (conv + ReLU), the 2×2 max pool of that map, and an 8×8 crop of
/// the edge map with each pooling window's winner.
fn max_pooling(digit: &[f32]) -> convnets::Result<Svg> {
    // The feature map: the edge detector over the whole digit, then ReLU (as every conv layer
    // of the book's model has), which keeps the edges and zeroes the rest.
    let mut features = convolve(digit, 28, &EDGE_KERNEL, EDGE_BIAS, Padding::Valid, 1)?;
    features.values.iter_mut().for_each(|v| *v = v.max(0.0));
    let fs = features.height;
    assert_eq!(fs, 26);

    // The crate's max pooling, which also reports where each maximum was (its argmax).
    let mut pool = MaxPooling2D::new((2, 2));
    let pooled = pool.forward(&Tensor::new(&[1, fs, fs, 1], features.values.clone())?)?.clone();
    let ps = pooled.shape()[1];
    assert_eq!((ps, out_len(fs, 2, 2, Padding::Valid)?), (13, 13));
    let winners: Vec<usize> = pool.argmax().iter().map(|&i| i as usize).collect();
    // Each pooled value is the value at its winner, which lies in its own 2×2 window and is
    // at least as large as the other three.
    for (o, (&w, &v)) in winners.iter().zip(pooled.data()).enumerate() {
        let (pr, pc) = (o / ps, o % ps);
        let window: Vec<usize> = (0..4).map(|i| (2 * pr + i / 2) * fs + 2 * pc + i % 2).collect();
        assert!(window.contains(&w), "the winner of window ({pr}, {pc}) lies in it");
        assert_eq!(features.values[w], v);
        assert!(window.iter().all(|&i| features.values[i] <= v));
        // The figure prints two decimals. It must not hide what decided the winner: no
        // earlier value of the window prints the same as the winner (on an exact tie, as
        // between zeros, the first wins, and a reader should be able to see that).
        let mut earlier = window.iter().take_while(|&&i| i != w);
        assert!(earlier.all(|&i| num(features.values[i], 2) != num(v, 2)), "window ({pr}, {pc}): a near tie");
    }
    assert!(features.values.iter().all(|&v| v == 0.0 || v >= 0.005), "a positive value would print as 0.00");

    // The crop to show in detail: the 8×8 block (4×4 pooling windows) in which the most
    // windows hold an edge, and of those the one with the most edge in it.
    const CROP: usize = 8;
    let (mut best, mut at) = ((0, f32::NEG_INFINITY), (0, 0));
    for r in (0..=fs - CROP).step_by(2) {
        for c in (0..=fs - CROP).step_by(2) {
            let pooled_here =
                |i: usize| pooled.data()[(r / 2 + i / (CROP / 2)) * ps + c / 2 + i % (CROP / 2)];
            let windows_with_edge = (0..CROP * CROP / 4).filter(|&i| pooled_here(i) > 0.0).count();
            let total: f32 =
                (0..CROP * CROP).map(|i| features.values[(r + i / CROP) * fs + c + i % CROP]).sum();
            if (windows_with_edge, total) > best {
                (best, at) = ((windows_with_edge, total), (r, c));
            }
        }
    }
    let (top, left) = at;
    println!(
        "max pooling: 26×26 edge map pooled to {ps}×{ps}; shown in detail: rows {top}–{}, cols {left}–{}",
        top + CROP - 1,
        left + CROP - 1
    );
    let feature = |r: usize, c: usize| features.values[(top + r) * fs + left + c];
    let is_winner = |r: usize, c: usize| winners.contains(&((top + r) * fs + left + c));
    let max = features.values.iter().copied().fold(0.0, f32::max);

    let mut svg = Svg::new(740.0, 680.0);
    svg.title("Max pooling 2×2: keep the largest value of each 2×2 window");

    // Row 1: the whole pictures.
    let digit_grid = Grid { x: 20.0, y: 80.0, rows: 28, cols: 28, cell: 6.0 };
    svg.label_above(&digit_grid, "digit 28×28");
    svg.pixels(&digit_grid, digit, 1.0);
    let kernel = Grid { x: 223.0, y: 96.0, rows: 3, cols: 3, cell: 20.0 };
    svg.cells(&kernel, |r, c| {
        let mut cell = Cell::new(KERNEL_FILL, num(EDGE_KERNEL[r * 3 + c], 0));
        cell.text.size = 11.0;
        cell
    });
    svg.outline(kernel.whole(), KERNEL, 1.5);
    let arrow_y = digit_grid.mid_y();
    svg.arrow((digit_grid.x + digit_grid.width() + 8.0, arrow_y), (300.0, arrow_y), INK);
    svg.text(251.0, arrow_y + 22.0, NOTE.centred(), "conv 3×3,");
    svg.text(251.0, arrow_y + 38.0, NOTE.centred(), &format!("bias {}, ReLU", num(EDGE_BIAS, 1)));

    let feature_grid = Grid { x: 310.0, y: 86.0, rows: fs, cols: fs, cell: 6.0 };
    svg.label_above(&feature_grid, "edge map 26×26");
    svg.pixels(&feature_grid, &features.values, max);
    let crop_box = feature_grid.block(top, left, CROP, CROP);
    svg.outline(crop_box, WINNER, 2.0);
    svg.arrow((feature_grid.x + feature_grid.width() + 8.0, arrow_y), (568.0, arrow_y), INK);
    svg.text(522.0, arrow_y - 12.0, NOTE.centred(), "max pool 2×2");

    let pooled_grid = Grid { x: 578.0, y: 86.0, rows: ps, cols: ps, cell: 12.0 };
    svg.label_above(&pooled_grid, "pooled 13×13");
    svg.pixels(&pooled_grid, pooled.data(), max);
    svg.outline(pooled_grid.block(top / 2, left / 2, CROP / 2, CROP / 2), WINNER, 2.0);

    // Row 2: the crop, number by number.
    let zoom = Grid { x: 20.0, y: 310.0, rows: CROP, cols: CROP, cell: 40.0 };
    svg.text(
        zoom.x,
        zoom.y - 12.0,
        Style { bold: true, ..LABEL },
        &format!(
            "The boxed part of the edge map, enlarged: rows {top}–{}, columns {left}–{}",
            top + CROP - 1,
            left + CROP - 1
        ),
    );
    svg.cells(&zoom, |r, c| grey_cell(feature(r, c), max, is_winner(r, c)));
    for i in (0..=CROP).step_by(2) {
        // The borders of the pooling windows.
        let at = i as f64 * zoom.cell;
        svg.line((zoom.x + at, zoom.y), (zoom.x + at, zoom.y + zoom.height()), INK, 2.5);
        svg.line((zoom.x, zoom.y + at), (zoom.x + zoom.width(), zoom.y + at), INK, 2.5);
    }
    for r in 0..CROP {
        for c in 0..CROP {
            if is_winner(r, c) {
                let mut b = zoom.block(r, c, 1, 1);
                b.inset(2.5);
                svg.outline(b, WINNER, 3.0);
            }
        }
    }

    let half = CROP / 2;
    let out = Grid { x: 490.0, y: zoom.y + zoom.cell, rows: half, cols: half, cell: 48.0 };
    svg.label_above(&out, "pooled: 4×4");
    svg.cells(&out, |r, c| grey_cell(pooled.data()[(top / 2 + r) * ps + left / 2 + c], max, false));
    svg.outline(out.whole(), WINNER, 2.0);
    svg.arrow((zoom.x + zoom.width() + 12.0, out.mid_y()), (out.x - 12.0, out.mid_y()), INK);
    svg.text(406.0, out.mid_y() - 12.0, NOTE.centred(), "max of each");
    svg.text(406.0, out.mid_y() + 26.0, NOTE.centred(), "2×2 window");
    let legend = out.y + out.height() + 30.0;
    let mut swatch = Rect { x: out.x, y: legend - 13.0, w: 18.0, h: 18.0 };
    svg.rect(swatch, PAPER, Stroke::solid(GRID, 1.0));
    swatch.inset(1.5);
    svg.outline(swatch, WINNER, 3.0);
    svg.text(out.x + 26.0, legend, NOTE, "the window's winner");
    svg.text(out.x, legend + 22.0, NOTE, "(in a window of zeros, the first)");
    svg.text(out.x, legend + 44.0, NOTE, "brighter = stronger edge");
    svg.text(out.x, legend + 62.0, NOTE, "(the largest in the map is white)");
    svg.text(
        20.0,
        662.0,
        NOTE,
        "Each pooled value is the largest of its 2×2 window: the map halves each way, and every edge found survives.",
    );
    Ok(svg)
}

/// A number cell shaded like the pixel maps: black for 0, white for the largest value, with
/// the text in whichever of black or white stands out against it.
fn grey_cell(v: f32, max: f32, bold: bool) -> Cell {
    let level = (v / max).clamp(0.0, 1.0);
    let mut cell = Cell::new(&grey(level), num(v, 2));
    cell.text.fill = if level > 0.5 { INK } else { "#ffffff" };
    cell.text.size = 12.5;
    cell.text.bold = bold;
    cell
}

// ---------------------------------------------------------------------------------------------
// Figure 6: the receptive field
// ---------------------------------------------------------------------------------------------

/// One spatial layer of the book's model: its name, window and stride.
struct Layer2D {
    name: &'static str,
    window: usize,
    stride: usize,
}

/// For one output pixel of each layer of the book's model (conv, pool, conv, pool, conv on
/// 28×28), the square of input pixels it depends on.
fn receptive_field(digit: &[f32]) -> convnets::Result<Svg> {
    let layers = [
        Layer2D { name: "conv2d_1", window: 3, stride: 1 },
        Layer2D { name: "max_pooling2d_1", window: 2, stride: 2 },
        Layer2D { name: "conv2d_2", window: 3, stride: 1 },
        Layer2D { name: "max_pooling2d_2", window: 2, stride: 2 },
        Layer2D { name: "conv2d_3", window: 3, stride: 1 },
    ];
    // Each layer's window geometry, as the crate works it out (all `valid`, as in the book).
    let mut windows: Vec<Window2D> = Vec::new();
    let mut size = 28;
    for layer in &layers {
        let w = Window2D::new(
            (size, size),
            (layer.window, layer.window),
            (layer.stride, layer.stride),
            Padding::Valid,
        )?;
        size = w.out_h;
        windows.push(w);
    }
    let sizes: Vec<usize> = windows.iter().map(|w| w.out_h).collect();
    assert_eq!(sizes, [26, 13, 11, 5, 3], "the book's model: 26, 13, 11, 5, 3");

    let trace = |l: usize, lo: usize, hi: usize| traced_rows(&windows[..=l], lo, hi);

    // The pixels to show: the centre pixel (1, 1) of the last layer, and below it, at each
    // layer, a pixel that the one above reads (the middle of its window), so that each field
    // lies inside the next.
    let mut chosen = vec![0; layers.len()];
    chosen[layers.len() - 1] = 1;
    for l in (1..layers.len()).rev() {
        let w = &windows[l];
        chosen[l - 1] = w.input_row(chosen[l], (w.k_h - 1) / 2).expect("valid windows never read padding");
    }

    // The 1-D rule the chapter states: a layer with window k and stride s sees
    // r_out = r_in + (k − 1) · jump_in input pixels, and its neighbouring pixels are
    // jump_out = jump_in · s input pixels apart. The traced fields must agree with it.
    let (mut r, mut jump) = (1, 1);
    let mut fields = Vec::new();
    println!("receptive field of one pixel, layer by layer (input 28×28):");
    for (l, layer) in layers.iter().enumerate() {
        r += (layer.window - 1) * jump;
        jump *= layer.stride;
        let (first, last) = trace(l, chosen[l], chosen[l]);
        let traced = last - first + 1;
        let (next_first, _) = trace(l, chosen[l] + 1, chosen[l] + 1);
        assert_eq!(traced, r, "{}: the traced field is the rule's r", layer.name);
        assert_eq!(next_first - first, jump, "{}: neighbouring pixels are `jump` apart", layer.name);
        if let Some(&(prev_first, prev_last, _)) = fields.last() {
            assert!(first <= prev_first && prev_last <= last, "each field contains the one before");
        }
        println!(
            "  {:<16} {k}×{k}, stride {s}: map {n}×{n}, pixel ({p}, {p}) sees input rows and cols {first}–{last}: {r}×{r} (jump {jump})",
            layer.name,
            k = layer.window,
            s = layer.stride,
            n = sizes[l],
            p = chosen[l]
        );
        fields.push((first, last, jump));
    }
    let rs: Vec<usize> = fields.iter().map(|&(f, l, _)| l - f + 1).collect();
    assert_eq!(rs, [3, 4, 8, 10, 18], "the book's model");

    // The same three convolutions without the pools (the max-pooling chapter's bad model):
    // each adds only k − 1 = 2 pixels, since the jump stays 1.
    let mut no_pools = Vec::new();
    let mut size = 28;
    for _ in 0..3 {
        let w = Window2D::new((size, size), (3, 3), (1, 1), Padding::Valid)?;
        size = w.out_h;
        no_pools.push(w);
    }
    let (first, last) = traced_rows(&no_pools, 0, 0);
    let r_no_pools = last - first + 1;
    assert_eq!(r_no_pools, 1 + 3 * (3 - 1), "the rule with jump 1");
    println!("  without the pools, three 3×3 convs: {r_no_pools}×{r_no_pools}");

    let colours = ["#56B4E9", "#0072B2", "#009E73", "#E69F00", "#D55E00"];
    let mut svg = Svg::new(740.0, 470.0);
    svg.title("Receptive field: the input pixels one pixel of each layer depends on");

    let input = Grid { x: 20.0, y: 86.0, rows: 28, cols: 28, cell: 10.0 };
    svg.label_above(&input, "input 28×28 (the digit, faded)");
    // The digit, faded, so that the coloured squares stand out over it.
    let faded: Vec<f32> = digit.iter().map(|v| 0.35 * v).collect();
    svg.rect(input.whole(), "#ffffff", Stroke::solid(GRID, 1.0));
    svg.pixels_on_white(&input, &faded);
    for row in 0..=28 {
        // Faint pixel lines, so the sizes can be counted.
        let at = row as f64 * input.cell;
        svg.line((input.x, input.y + at), (input.x + input.width(), input.y + at), "#dddddd", 0.5);
        svg.line((input.x + at, input.y), (input.x + at, input.y + input.height()), "#dddddd", 0.5);
    }
    for (l, &(first, last, _)) in fields.iter().enumerate().rev() {
        let n = last - first + 1;
        svg.outline(input.block(first, first, n, n), colours[l], 3.0);
    }

    // The table: one row per layer, with the layer's map and its chosen pixel.
    let (tx, ty, row_h) = (326.0, 92.0, 60.0);
    let (map_x, sees_x) = (tx + 166.0, tx + 234.0);
    let head = Style { bold: true, ..NOTE };
    svg.text(tx, ty - 14.0, head, "layer");
    svg.text(map_x, ty - 14.0, head, "its map");
    svg.text(sees_x, ty - 14.0, head, "one pixel of it sees");
    for (l, layer) in layers.iter().enumerate() {
        let y = ty + l as f64 * row_h;
        let n = sizes[l];
        let kind = if layer.stride == 1 { "conv" } else { "pool" };
        svg.rect(Rect { x: tx, y: y + 4.0, w: 14.0, h: 14.0 }, colours[l], Stroke::solid(colours[l], 1.0));
        svg.text(tx + 22.0, y + 16.0, Style { bold: true, ..LABEL }, layer.name);
        svg.text(tx + 22.0, y + 34.0, NOTE, &format!("{kind} {k}×{k} → {n}×{n}", k = layer.window));
        // The map, drawn 48 pixels wide whatever its size, with the chosen pixel coloured.
        let map = Grid { x: map_x, y, rows: n, cols: n, cell: 48.0 / n as f64 };
        svg.rect(map.whole(), PAPER, Stroke::solid(GRID, 1.0));
        let mut pixel = map.block(chosen[l], chosen[l], 1, 1);
        svg.rect(pixel, colours[l], Stroke::solid(colours[l], 0.5));
        // A ring around the pixel, which in the 26×26 map is smaller than two screen pixels.
        pixel.inset(-3.5);
        svg.outline(pixel, colours[l], 1.5);
        let (first, last, jump) = fields[l];
        let r = last - first + 1;
        svg.text(
            sees_x,
            y + 16.0,
            Style { bold: true, fill: colours[l], ..LABEL },
            &format!("{r}×{r} input pixels"),
        );
        svg.text(sees_x, y + 34.0, NOTE, &format!("rows/cols {first}–{last}, jump {jump}"));
    }
    let foot = input.y + input.height() + 34.0;
    let notes: [String; 3] = [
        "Each layer reads a k×k window of the layer below, whose neighbouring pixels are “jump” input pixels apart,".into(),
        "so one pixel sees r_out = r_in + (k − 1) · jump_in input pixels across; a pool of stride 2 doubles the jump.".into(),
        format!(
            "Without the pools, three 3×3 convolutions would see only {r_no_pools}×{r_no_pools} pixels: a piece of a stroke, not a digit."
        ),
    ];
    for (i, note) in notes.iter().enumerate() {
        svg.text(20.0, foot + 18.0 * i as f64, NOTE, note);
    }
    Ok(svg)
}

/// The input rows that rows `lo..=hi` of the last of `windows` depend on, walking back through
/// the layers: output row `o` of a layer reads rows `input_row(o, 0) ..= input_row(o, k − 1)`
/// of the layer below. (Columns are the same, the model being square.)
fn traced_rows(windows: &[Window2D], lo: usize, hi: usize) -> (usize, usize) {
    windows.iter().rev().fold((lo, hi), |(lo, hi), w| {
        let first = w.input_row(lo, 0).expect("valid windows never read padding");
        let last = w.input_row(hi, w.k_h - 1).expect("valid windows never read padding");
        (first, last)
    })
}

// ---------------------------------------------------------------------------------------------
// Convolution through the crate
// ---------------------------------------------------------------------------------------------

/// A single-channel map of `height × width` values, row-major.
struct Map {
    height: usize,
    width: usize,
    values: Vec<f32>,
}

/// Convolves an `n × n` single-channel image with one 3×3 filter, through the crate's
/// `ConvGeometry` and `conv::naive::forward`: the same code every chapter teaches.
fn convolve(
    x: &[f32],
    n: usize,
    kernel: &[f32; 9],
    bias: f32,
    padding: Padding,
    stride: usize,
) -> convnets::Result<Map> {
    // NHWC input (1, n, n, 1), HWIO kernel (3, 3, 1, 1).
    let g = ConvGeometry::new(&[1, n, n, 1], &[3, 3, 1, 1], (stride, stride), padding)?;
    let [_, height, width, _] = g.output_shape();
    let mut values = vec![0.0; height * width];
    naive::forward(&g, x, kernel, &[bias], &mut values);
    Ok(Map { height, width, values })
}

/// A number as the figures print it: `decimals` decimals, a true minus sign, and no "−0.0".
fn num(v: f32, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    match s.strip_prefix('-') {
        Some(digits) if digits.chars().all(|c| c == '0' || c == '.') => digits.to_string(),
        Some(digits) => format!("−{digits}"),
        None => s,
    }
}

/// The SVG colour of grey level `level` (0 black, 1 white).
fn grey(level: f32) -> String {
    let v = (level.clamp(0.0, 1.0) * 255.0).round() as u8;
    format!("#{v:02x}{v:02x}{v:02x}")
}

// ---------------------------------------------------------------------------------------------
// A little SVG writer
// ---------------------------------------------------------------------------------------------

/// How a piece of text looks.
#[derive(Clone, Copy)]
struct Style {
    size: f64,
    fill: &'static str,
    bold: bool,
    /// `start`, `middle` or `end`: which point of the text `x` is.
    anchor: &'static str,
}

impl Style {
    /// The same style, centred on `x`.
    fn centred(self) -> Style {
        Style { anchor: "middle", ..self }
    }
}

/// The titles of the figures.
const TITLE: Style = Style { size: 17.0, fill: INK, bold: true, anchor: "start" };
/// The labels of the parts of a figure.
const LABEL: Style = Style { size: 14.0, fill: INK, bold: false, anchor: "start" };
/// Notes and explanations.
const NOTE: Style = Style { size: 12.5, fill: MUTED, bold: false, anchor: "start" };
/// The numbers inside cells.
const CELL_TEXT: Style = Style { size: 13.0, fill: INK, bold: false, anchor: "middle" };

/// How a rectangle's border is drawn.
#[derive(Clone, Copy)]
struct Stroke {
    colour: &'static str,
    width: f64,
    dashed: bool,
}

impl Stroke {
    fn solid(colour: &'static str, width: f64) -> Stroke {
        Stroke { colour, width, dashed: false }
    }
}

/// A rectangle: top-left corner, width and height, in SVG pixels.
#[derive(Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    /// Shrinks the rectangle by `d` on every side (an outline drawn inside a cell).
    fn inset(&mut self, d: f64) {
        *self = Rect { x: self.x + d, y: self.y + d, w: self.w - 2.0 * d, h: self.h - 2.0 * d };
    }
}

/// A grid of square cells: where it is and how large.
struct Grid {
    x: f64,
    y: f64,
    rows: usize,
    cols: usize,
    cell: f64,
}

impl Grid {
    fn width(&self) -> f64 {
        self.cols as f64 * self.cell
    }
    fn height(&self) -> f64 {
        self.rows as f64 * self.cell
    }
    fn mid_y(&self) -> f64 {
        self.y + self.height() / 2.0
    }
    /// The rectangle of `h × w` cells whose top-left cell is `(r, c)`.
    fn block(&self, r: usize, c: usize, h: usize, w: usize) -> Rect {
        Rect {
            x: self.x + c as f64 * self.cell,
            y: self.y + r as f64 * self.cell,
            w: w as f64 * self.cell,
            h: h as f64 * self.cell,
        }
    }
    fn whole(&self) -> Rect {
        self.block(0, 0, self.rows, self.cols)
    }
    /// The centre of cell `(r, c)`.
    fn centre(&self, r: usize, c: usize) -> (f64, f64) {
        (self.x + (c as f64 + 0.5) * self.cell, self.y + (r as f64 + 0.5) * self.cell)
    }
}

/// How one cell of a grid looks.
struct Cell {
    fill: String,
    label: String,
    text: Style,
    dashed: bool,
}

impl Cell {
    fn new(fill: &str, label: String) -> Cell {
        Cell { fill: fill.to_string(), label, text: CELL_TEXT, dashed: false }
    }
}

/// Small copies of the input, one per window position, laid out as the output is: the picture
/// of "each window gives the output value at the same place". `count × count` thumbnails of an
/// `input × input` image padded by `pad` on each side, the window in blue.
struct Thumbnails {
    x: f64,
    y: f64,
    count: usize,
    input: usize,
    window: usize,
    stride: usize,
    pad: usize,
    cell: f64,
    gap: f64,
}

impl Thumbnails {
    /// One thumbnail's side, in cells.
    fn side(&self) -> usize {
        self.input + 2 * self.pad
    }
    fn width(&self) -> f64 {
        let one = self.side() as f64 * self.cell;
        self.count as f64 * one + (self.count - 1) as f64 * self.gap
    }
    /// The outline of thumbnail `(i, j)`: the window at output position `(i, j)`.
    fn frame(&self, i: usize, j: usize) -> Rect {
        let one = self.side() as f64 * self.cell;
        Rect {
            x: self.x + j as f64 * (one + self.gap),
            y: self.y + i as f64 * (one + self.gap),
            w: one,
            h: one,
        }
    }
}

/// An SVG picture being written: its size and the elements so far.
struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    fn new(width: f64, height: f64) -> Svg {
        Svg { width, height, body: String::new() }
    }

    /// The whole SVG file. A white background keeps it readable in the book's dark themes.
    fn finish(self) -> String {
        format!(
            concat!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" ",
                "font-family=\"DejaVu Sans, Verdana, Arial, Helvetica, sans-serif\">\n",
                "<!-- Drawn by examples/book_figures.rs from numbers the crate computes: do not edit by hand. -->\n",
                "<rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n",
                "{body}</svg>\n"
            ),
            w = self.width,
            h = self.height,
            body = self.body
        )
    }

    fn rect(&mut self, r: Rect, fill: &str, stroke: Stroke) {
        let dash = if stroke.dashed { " stroke-dasharray=\"4 3\"" } else { "" };
        let _ = writeln!(
            self.body,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\" stroke=\"{}\" stroke-width=\"{}\"{dash}/>",
            f(r.x),
            f(r.y),
            f(r.w),
            f(r.h),
            stroke.colour,
            f(stroke.width)
        );
    }

    /// A border with no fill, drawn over what is there.
    fn outline(&mut self, r: Rect, colour: &'static str, width: f64) {
        self.rect(r, "none", Stroke::solid(colour, width));
    }

    fn dashed_outline(&mut self, r: Rect, colour: &'static str, width: f64) {
        self.rect(r, "none", Stroke { colour, width, dashed: true });
    }

    fn line(&mut self, from: (f64, f64), to: (f64, f64), colour: &str, width: f64) {
        let _ = writeln!(
            self.body,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"{}\"/>",
            f(from.0),
            f(from.1),
            f(to.0),
            f(to.1),
            f(width)
        );
    }

    /// An arrow from `from` to `to`. The head is drawn as a polygon (not a marker), so it has
    /// the line's colour in every renderer.
    fn arrow(&mut self, from: (f64, f64), to: (f64, f64), colour: &str) {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let len = (dx * dx + dy * dy).sqrt();
        let (ux, uy) = (dx / len, dy / len);
        let (size, half) = (10.0, 5.0);
        let base = (to.0 - ux * size, to.1 - uy * size);
        self.line(from, base, colour, 2.0);
        let _ = writeln!(
            self.body,
            "<polygon points=\"{},{} {},{} {},{}\" fill=\"{colour}\"/>",
            f(to.0),
            f(to.1),
            f(base.0 - uy * half),
            f(base.1 + ux * half),
            f(base.0 + uy * half),
            f(base.1 - ux * half)
        );
    }

    fn text(&mut self, x: f64, y: f64, style: Style, s: &str) {
        let weight = if style.bold { " font-weight=\"bold\"" } else { "" };
        let _ = writeln!(
            self.body,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{}\" text-anchor=\"{}\"{weight}>{}</text>",
            f(x),
            f(y),
            f(style.size),
            style.fill,
            style.anchor,
            escape(s)
        );
    }

    /// One line of text in several styles (each part a `<tspan>`), starting at `x`. Spaces are
    /// kept as written (`xml:space`), also at the ends of the parts.
    fn spans(&mut self, x: f64, y: f64, base: Style, parts: &[(Style, String)]) {
        let _ = write!(
            self.body,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"{}\" xml:space=\"preserve\">",
            f(x),
            f(y),
            f(base.size),
            base.anchor
        );
        for (style, s) in parts {
            let weight = if style.bold { " font-weight=\"bold\"" } else { "" };
            let _ = write!(self.body, "<tspan fill=\"{}\"{weight}>{}</tspan>", style.fill, escape(s));
        }
        let _ = writeln!(self.body, "</text>");
    }

    fn title(&mut self, s: &str) {
        self.text(20.0, 30.0, TITLE, s);
    }

    /// A label centred at `x`, bold or not.
    fn label(&mut self, x: f64, y: f64, s: &str, bold: bool) {
        self.text(x, y, Style { bold, ..LABEL }.centred(), s);
    }

    /// A bold label centred above a grid.
    fn label_above(&mut self, g: &Grid, s: &str) {
        self.label(g.x + g.width() / 2.0, g.y - 12.0, s, true);
    }

    /// Draws every cell of a grid as `look(row, col)` says.
    fn cells(&mut self, g: &Grid, look: impl Fn(usize, usize) -> Cell) {
        for r in 0..g.rows {
            for c in 0..g.cols {
                let cell = look(r, c);
                let stroke = Stroke { colour: GRID, width: 1.0, dashed: cell.dashed };
                self.rect(g.block(r, c, 1, 1), &cell.fill, stroke);
                let (x, y) = g.centre(r, c);
                self.text(x, y + cell.text.size * 0.36, cell.text, &cell.label);
            }
        }
    }

    /// A picture of `values` (0 black, `max` white), one square per value. Only non-black
    /// squares are written, over a black background, which keeps the file small.
    fn pixels(&mut self, g: &Grid, values: &[f32], max: f32) {
        self.rect(g.whole(), "#000000", Stroke::solid(GRID, 1.0));
        let _ = writeln!(self.body, "<g shape-rendering=\"crispEdges\">");
        for (i, &v) in values.iter().enumerate() {
            let level = v / max;
            if level > 0.0 {
                let r = g.block(i / g.cols, i % g.cols, 1, 1);
                let _ = writeln!(
                    self.body,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>",
                    f(r.x),
                    f(r.y),
                    f(r.w),
                    f(r.h),
                    grey(level)
                );
            }
        }
        let _ = writeln!(self.body, "</g>");
    }

    /// A picture of `values` in 0..1 as shades of grey on white (0 white, 1 black): for a
    /// faded digit under coloured outlines.
    fn pixels_on_white(&mut self, g: &Grid, values: &[f32]) {
        let _ = writeln!(self.body, "<g shape-rendering=\"crispEdges\">");
        for (i, &v) in values.iter().enumerate() {
            if v > 0.0 {
                let r = g.block(i / g.cols, i % g.cols, 1, 1);
                let _ = writeln!(
                    self.body,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>",
                    f(r.x),
                    f(r.y),
                    f(r.w),
                    f(r.h),
                    grey(1.0 - v)
                );
            }
        }
        let _ = writeln!(self.body, "</g>");
    }

    /// The thumbnails: each a small input grid (padding dashed grey) with its window in blue.
    fn thumbnails(&mut self, t: &Thumbnails) {
        let side = t.side();
        let one = side as f64 * t.cell;
        for i in 0..t.count {
            for j in 0..t.count {
                let frame = t.frame(i, j);
                let g = Grid { x: frame.x, y: frame.y, rows: side, cols: side, cell: t.cell };
                let (wr, wc) = (i * t.stride, j * t.stride);
                // Padding, then the input over it, then the window over that, then the lines
                // between the cells, as one path.
                self.rect(g.whole(), PAD_FILL, Stroke::solid(GRID, 0.5));
                self.rect(g.block(t.pad, t.pad, t.input, t.input), PAPER, Stroke::solid(GRID, 0.5));
                self.rect(g.block(wr, wc, t.window, t.window), WINDOW_FILL, Stroke::solid(GRID, 0.5));
                let mut path = String::new();
                for k in 1..side {
                    let at = k as f64 * t.cell;
                    let _ = write!(path, "M{},{}h{}", f(g.x), f(g.y + at), f(one));
                    let _ = write!(path, "M{},{}v{}", f(g.x + at), f(g.y), f(one));
                }
                let _ = writeln!(
                    self.body,
                    "<path d=\"{path}\" stroke=\"{GRID}\" stroke-width=\"0.5\" fill=\"none\"/>"
                );
                self.outline(g.block(wr, wc, t.window, t.window), WINDOW, 2.0);
            }
        }
    }
}

/// A coordinate as the SVG file writes it: at most two decimals, no trailing zeros.
fn f(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Text safe inside an SVG element.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
